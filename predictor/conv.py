"""A GIN layer for directed, edge-typed graphs whose aggregation is one sparse matrix product."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.nn.inits import reset


class DirectedAdjacency(NamedTuple):
    """The adjacency of an edge-typed graph whose edge types ``>= num_kinds`` are reverse edges.

    Build it once per batch with :meth:`from_edges`; every layer (and every ensemble member) reuses it.

    Attributes:
        forward: ``(N, N)`` sparse CSR, ``forward[i, j] = 1`` for an edge ``j -> i`` of a forward type.
        reverse: ``(N, N)`` sparse CSR, the same for the reverse-typed edges.
        type_counts: ``(N, num_edge_types)``, how many edges of each type end at each node.
    """

    forward: Tensor
    reverse: Tensor
    type_counts: Tensor

    @classmethod
    def from_edges(cls, edge_index: Tensor, edge_type: Tensor, num_nodes: int, num_kinds: int) -> DirectedAdjacency:
        """The adjacency of edges in any order (``encode_batch`` gives them sorted, which skips a sort).

        Args:
            edge_index: ``(2, E)`` source and target nodes.
            edge_type: ``(E,)`` in ``[0, 2 * num_kinds)``; ``k + num_kinds`` is the reverse of kind ``k``.
            num_nodes: ``N``.
            num_kinds: the number of forward edge kinds.
        """
        src, dst = edge_index
        key = dst * num_nodes + src  # CSR wants rows (targets) in order and sorted columns inside a row
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            order = torch.argsort(key)
            src, dst, edge_type = src[order], dst[order], edge_type[order]
        is_reverse = edge_type >= num_kinds

        def csr(mask: Tensor) -> Tensor:
            crow = torch.zeros(num_nodes + 1, dtype=torch.long)
            torch.cumsum(torch.bincount(dst[mask], minlength=num_nodes), 0, out=crow[1:])
            col = src[mask]
            # The indices are valid by construction, so the invariant checks are off, and off *explicitly* for the
            # whole process: torch (2.11 and others) warns on every process that it finds them "implicitly
            # disabled" when an operation later consults the global setting, whatever the constructor was told.
            # The context manager sets the setting explicitly and leaves the same value (off) behind.
            with warnings.catch_warnings(), torch.sparse.check_sparse_tensor_invariants(enable=False):
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")  # once per process
                return torch.sparse_csr_tensor(
                    crow, col, torch.ones(col.numel()), (num_nodes, num_nodes), check_invariants=False
                )

        counts = torch.zeros(num_nodes, 2 * num_kinds)
        counts.index_put_((dst, edge_type), torch.ones(dst.numel()), accumulate=True)
        return cls(csr(~is_reverse), csr(is_reverse), counts)


class DirectedGINEConv(torch.nn.Module):
    r"""GIN with separate forward / reverse aggregation and edge-type embeddings.

    GIN (Xu et al., "How Powerful are Graph Neural Networks?", ICLR 2019) extended along two lines: the
    edge-type term of GINE (Hu et al., "Strategies for Pre-training Graph Neural Networks", ICLR 2020)
    and, as in Dir-GNN (Rossi et al., "Edge Directionality Improves Learning on Heterophilic Graphs",
    LoG 2023), a separate transform of the messages that travel against the data flow:

    .. math::
        \mathbf{x}^{\prime}_i = h_{\mathbf{\Theta}} \Big( (1 + \epsilon) \mathbf{x}_i
        + \sum_{j \in \mathcal{N}^{\rightarrow}(i)} \mathbf{x}_j
        + \mathbf{W}_{\mathrm{rev}} \sum_{j \in \mathcal{N}^{\leftarrow}(i)} \mathbf{x}_j
        + \sum_{(j, i) \in \mathcal{E}} \mathbf{e}_{t(j, i)} \Big)

    where :math:`\mathcal{N}^{\rightarrow}(i)` are the nodes with a forward-typed edge into :math:`i`
    (its predecessors in the data flow), :math:`\mathcal{N}^{\leftarrow}(i)` those with a reverse-typed
    edge (its successors) and :math:`\mathbf{e}_t` a learned embedding of edge type :math:`t`. Unlike
    GINE, the message :math:`\mathbf{x}_j + \mathbf{e}_t` has no inner ReLU, so the aggregation is two
    sparse-dense products plus ``type_counts @ E`` (fused ``addmm`` calls): no per-edge tensor is
    materialised, which is what makes ten thousand graphs a second possible on a CPU.

    Args:
        nn (torch.nn.Module): :math:`h_{\mathbf{\Theta}}`, maps ``(N, channels)`` to ``(N, out_channels)``.
        channels (int): node feature size of the input.
        num_edge_types (int): the number of edge types (forward and reverse).
        eps (float, optional): initial :math:`\epsilon`. (default: :obj:`0.`)
        train_eps (bool, optional): learn :math:`\epsilon`. (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, a :class:`DirectedAdjacency` over
          :math:`|\mathcal{V}|` nodes
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self, nn: torch.nn.Module, channels: int, num_edge_types: int, eps: float = 0.0, train_eps: bool = True
    ) -> None:
        super().__init__()
        self.nn = nn
        self.channels = channels
        self.num_edge_types = num_edge_types
        self.initial_eps = eps
        self.train_eps = train_eps
        self.lin_rev = torch.nn.Linear(channels, channels, bias=False)
        self.edge_emb = torch.nn.Parameter(torch.empty(num_edge_types, channels))
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer("eps", torch.empty(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset(self.nn)
        self.lin_rev.reset_parameters()
        torch.nn.init.normal_(self.edge_emb, std=0.1)
        self.eps.data.fill_(self.initial_eps)

    def forward(self, x: Tensor, adj: DirectedAdjacency) -> Tensor:
        if not torch.is_grad_enabled():  # prediction: the same sums, written into one buffer
            return self._forward_in_place(x, adj)
        if self.train_eps:
            out = torch.addmm(x * (1 + self.eps), adj.type_counts, self.edge_emb)  # (N, F): (1+eps) x + counts @ E
        else:  # a fixed eps folds into the same call
            out = torch.addmm(x, adj.type_counts, self.edge_emb, beta=1 + float(self.eps))
        out = torch.addmm(out, adj.forward, x)  # + sum over predecessors
        out = torch.addmm(out, adj.reverse, self.lin_rev(x))  # + W_rev sum over successors
        return self.nn(out)

    def _forward_in_place(self, x: Tensor, adj: DirectedAdjacency) -> Tensor:
        """:meth:`forward` without autograd: every term is added into the buffer the first product allocates.

        ``addmm(c, a, b)`` first copies ``c`` into a new tensor; chained, those copies (a pass over an
        ``(N, F)`` tensor each, into freshly allocated memory) cost about a fifth of a prediction. The sums
        are the same, term for term, so with a fixed ``eps = 0`` the result is bit-identical to :meth:`forward`.
        """
        out = torch.mm(adj.type_counts, self.edge_emb)  # counts @ E
        if self.train_eps:
            out.add_(x * (1 + self.eps))
        else:  # alpha = 1 for the shipped GIN-0 layers: an exact product
            out.add_(x, alpha=1 + float(self.eps))
        out.addmm_(adj.forward, x)
        out.addmm_(adj.reverse, self.lin_rev(x))
        return sequential_in_place(self.nn, out)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn}, num_edge_types={self.num_edge_types})"


def sequential_in_place(seq: torch.nn.Module | list[torch.nn.Module], x: Tensor) -> Tensor:
    """``seq(x)`` without autograd for a stack of ``Linear`` and ``ReLU`` layers (a module, or a list of them) on
    ``(N, F)`` inputs, each bias and ReLU applied in place (``Linear`` adds its bias through ``addmm``, which copies
    it into the output first); any other module runs as it is. Only tensors made here are written to: ``x``
    itself never is. Bit-identical to ``seq(x)``."""
    owned = False  # whether x was allocated here (and may be overwritten)
    for layer in seq if isinstance(seq, (torch.nn.Sequential, list)) else [seq]:
        if isinstance(layer, torch.nn.Linear) and x.dim() == 2:
            out = torch.mm(x, layer.weight.t())
            x, owned = (out if layer.bias is None else out.add_(layer.bias)), True
        elif isinstance(layer, torch.nn.ReLU):
            x, owned = (x.relu_() if owned else torch.relu(x)), True
        else:
            x, owned = layer(x), False
    return x


__all__ = ["DirectedAdjacency", "DirectedGINEConv", "sequential_in_place"]
