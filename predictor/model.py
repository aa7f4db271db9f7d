"""The accuracy network: (student graph, task, training budget) -> logit of the distilled accuracy.

Reads top to bottom::

    student graph --DirectedGINEConv x layers--> node states --mean & max readout--> g       # (G, 2H)
                                      [ + the recipe nodes' states, with recipe_readout ]   # (G, +H)
                                      [ + the sum over the nodes, with sum_readout ]        # (G, +H)
    per-class probe rows --DeepSets--> + global features --> task embedding t                # (T, H)
    c = [t ; standardised log2(epochs)]                                                      # (G, H + 1)
    g' = g * (1 + gamma(c)) + beta(c)            (FiLM: the task and budget condition the student)
    logit = MLP([g' ; c])                         accuracy = sigmoid(logit)

The graph part does not see the task, so one student's embedding serves every task and budget; the
task encoder is a set function of the class rows, so any number of classes works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from distill.families import GraphLayout
from distill.probe import CLASS_FEATURES, GLOBAL_FEATURES
from predictor import graph as graph_module
from predictor.conv import DirectedAdjacency, DirectedGINEConv, sequential_in_place
from predictor.graph import NUM_EDGE_TYPES, NUM_NODE_FEATURES

IGNORED_STD = 1e6  # the scale of a task feature that did not vary in training (it contributes ~0)
RECIPE_NODE_COLUMNS = ("node:logit_kd", "node:hint")  # what recipe_readout sums, by name
INPUT_CLIP = 5.0  # standardised task features are clipped to +-INPUT_CLIP (also for checkpoints saved before)

__all__ = ["AccuracyNet", "FoldedStem", "NetConfig", "StemInputs", "TaskEncoder", "adjacency_of", "stem_inputs"]


@dataclass(frozen=True)
class NetConfig:
    """Sizes of :class:`AccuracyNet`; saved beside the weights."""

    hidden: int = 64  # students are graphs of <= ~20 nodes: 64 channels are plenty (the shipped checkpoint has 48)
    layers: int = 3  # three hops: a block sees its neighbours' neighbours, e.g. the recipe node of the stage end
    # the readout also takes the final states of the recipe nodes (logit_kd + hint), which mean/max pooling
    # over ~15 nodes dilutes; False for the checkpoints made before it existed
    recipe_readout: bool = False
    # the readout also takes the sum of the node states: the mean and the max do not see how many blocks
    # (nodes) a student has, the sum does (Xu et al., ICLR 2019); False for the checkpoints made before it
    sum_readout: bool = False
    # the width of the layout the network reads (today's by default; a checkpoint's own, see predictor.layout)
    node_features: int = NUM_NODE_FEATURES
    num_edge_types: int = NUM_EDGE_TYPES
    class_features: int = len(CLASS_FEATURES)
    global_features: int = len(GLOBAL_FEATURES)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _mlp(*sizes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def adjacency_of(graph, num_kinds: int | None = None) -> DirectedAdjacency:
    """The :class:`DirectedAdjacency` of a batch from :func:`predictor.graph.encode_batch` (once per batch).

    Args:
        graph: the batch.
        num_kinds: forward edge kinds of the layout the batch is in; by default today's.
    """
    num_kinds = len(graph_module.LAYOUT.edge_kinds) if num_kinds is None else num_kinds
    return DirectedAdjacency.from_edges(graph.edge_index, graph.edge_type, graph.num_nodes, num_kinds)


class StemInputs(NamedTuple):
    """What the first message-passing layer reads of a batch, in the form :meth:`AccuracyNet.folded_stem` needs.

    Built once per batch by :func:`stem_inputs` and shared by every ensemble member.

    Attributes:
        u: ``(N, k)`` the nonzero columns of ``[x + A_fwd x ; A_rev x ; type_counts]``.
        cols: ``(k,)`` which of the ``2F + num_edge_types`` columns they are.
    """

    u: Tensor
    cols: Tensor


def stem_inputs(x: Tensor, adj: DirectedAdjacency) -> StemInputs:
    """:class:`StemInputs` of node features ``x (N, F)`` and their adjacency.

    Columns that are zero on every node are dropped: a batch of one search space uses only some node features
    and edge types (a ViT batch 65 of the 106 columns), and a dropped column costs nothing in the product."""
    u = torch.cat([torch.addmm(x, adj.forward, x), adj.reverse @ x, adj.type_counts], 1)
    cols = (u.abs().sum(0) != 0).nonzero().squeeze(1)  # (a column sum: 7x faster than `(u != 0).any(0)`)
    return StemInputs(u.index_select(1, cols), cols)  # (index_select: 6x faster than u[:, cols])


class FoldedStem(NamedTuple):
    """The input projection, the first layer's aggregation and its MLP's first ``Linear``, as one affine map of
    :class:`StemInputs` (see :meth:`AccuracyNet.folded_stem`)."""

    weight: Tensor  # (2F + num_edge_types, H)
    bias: Tensor  # (H,)


class TaskEncoder(nn.Module):
    r"""DeepSets (Zaheer et al., NeurIPS 2017) over the per-class probe rows, joined with the global features.

    .. math::
        \mathbf{t} = \rho\big(\big[\operatorname{mean}_c \phi(\mathbf{r}_c) ;
        \max_c \phi(\mathbf{r}_c) ; \mathbf{u}\big]\big)

    Args:
        class_features: size of a class row :math:`\mathbf{r}_c`.
        global_features: size of the global vector :math:`\mathbf{u}`.
        hidden: size of :math:`\phi` and of the embedding.

    Shapes:
        input: ``classes (R, class_features)``, ``class_batch (R,)`` (task of each row, sorted),
        ``glob (T, global_features)``; output: ``(T, hidden)``.
    """

    def __init__(self, class_features: int, global_features: int, hidden: int) -> None:
        super().__init__()
        self.class_features = class_features
        self.global_features = global_features
        self.hidden = hidden
        self.phi = _mlp(class_features, hidden, hidden)
        self.rho = _mlp(2 * hidden + global_features, hidden, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def forward(self, classes: Tensor, class_batch: Tensor, glob: Tensor) -> Tensor:
        n_tasks = glob.shape[0]
        h = torch.relu(self.phi(classes))  # (R, H)
        pooled = torch.cat(
            [global_mean_pool(h, class_batch, n_tasks), global_max_pool(h, class_batch, n_tasks)], 1
        )  # (T, 2H)
        return self.rho(torch.cat([pooled, glob], 1))  # (T, H)


class AccuracyNet(nn.Module):
    """One member of the predictor ensemble (see the module docstring).

    Inputs are standardised inside the network with buffers set by :meth:`set_input_scaling`, so a saved
    state dict is all it takes to predict.

    Args:
        config: the sizes.
        layout: the graph layout the network reads (its feature columns and edge kinds); by default today's
            :data:`predictor.graph.LAYOUT`. Its sizes must be ``config``'s.
    """

    def __init__(self, config: NetConfig | None = None, layout: GraphLayout | None = None) -> None:
        super().__init__()
        config = NetConfig() if config is None else config
        layout = graph_module.LAYOUT if layout is None else layout
        if (layout.num_features, 2 * len(layout.edge_kinds)) != (config.node_features, config.num_edge_types):
            raise ValueError(
                f"the layout has {layout.num_features} features and {2 * len(layout.edge_kinds)} edge types, the "
                f"config {config.node_features} and {config.num_edge_types}"
            )
        self.config = config
        self.layout = layout
        # the recipe nodes' type columns in the network's own layout (a plain attribute: not in the state dict)
        self.recipe_columns = [layout.col(name) for name in RECIPE_NODE_COLUMNS]
        h = config.hidden
        self.node_lin = nn.Linear(config.node_features, h)
        self.convs = nn.ModuleList(
            # GIN-0 (a fixed eps = 0): as accurate as a learned eps in Xu et al., and one operation less
            DirectedGINEConv(_mlp(h, h, h), h, config.num_edge_types, train_eps=False)
            for _ in range(config.layers)
        )
        self.task = TaskEncoder(config.class_features, config.global_features, h)
        r = self.readout_size
        self.film = nn.Linear(h + 1, 2 * r)  # -> (gamma, beta) over the readout
        self.head = _mlp(r + h + 1, h, 1)
        self.register_buffer("class_mean", torch.zeros(config.class_features))
        self.register_buffer("class_std", torch.ones(config.class_features))
        self.register_buffer("global_mean", torch.zeros(config.global_features))
        self.register_buffer("global_std", torch.ones(config.global_features))
        self.register_buffer("budget_mean", torch.zeros(()))
        self.register_buffer("budget_std", torch.ones(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.node_lin.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        self.task.reset_parameters()
        for module in self.head.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        # FiLM starts as the identity: the untrained conditioning does not scramble the graph embedding.
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    @torch.no_grad()
    def set_input_scaling(self, classes: Tensor, glob: Tensor, log2_budget: Tensor) -> None:
        """Standardise the task features and the budget with these training values' mean and std."""

        def std(t: Tensor) -> Tensor:
            if t.shape[0] < 2:
                return torch.ones_like(t[0])
            s = t.std(0, unbiased=False)
            # a feature constant in training taught the network nothing: scale it to zero rather than let a
            # new value (digits' 8x8 side after 12x12 training) enter as a huge standardised input
            return torch.where(s < 1e-6, torch.full_like(s, IGNORED_STD), s.clamp_min(1e-3))

        self.class_mean.copy_(classes.mean(0))
        self.class_std.copy_(std(classes))
        self.global_mean.copy_(glob.mean(0))
        self.global_std.copy_(std(glob))
        self.budget_mean.copy_(log2_budget.mean())
        self.budget_std.copy_(std(log2_budget.reshape(-1, 1))[0])

    # ---- the three parts ----
    @property
    def readout_size(self) -> int:
        """Size ``R`` of a graph embedding: ``2H``, plus ``H`` for each of ``recipe_readout`` and ``sum_readout``."""
        return (2 + self.config.recipe_readout + self.config.sum_readout) * self.config.hidden

    def folded_stem(self) -> FoldedStem | None:
        r"""The network up to the first layer's MLP hidden units as one affine map, for prediction.

        Nothing nonlinear lies between the node features and that hidden layer: with the input projection
        :math:`\mathbf{h}^0 = \mathbf{x} A + \mathbf{b}`, the first layer's GIN-0 sum
        :math:`\mathbf{h}^0 + A_{\rightarrow} \mathbf{h}^0 + A_{\leftarrow} \mathbf{h}^0 R + C E` (``C`` the
        ``type_counts``, whose forward columns sum to the rows of :math:`A_{\rightarrow}` and reverse ones to those
        of :math:`A_{\leftarrow}`) and the MLP's first ``Linear`` :math:`(W_1, \mathbf{c}_1)`, the hidden units
        before their ReLU are

        .. math::
            [\mathbf{x} + A_{\rightarrow}\mathbf{x} ;\ A_{\leftarrow}\mathbf{x} ;\ C]
            \begin{bmatrix} A \\ A R \\ E + [\mathbf{b} \text{ or } \mathbf{b} R] \end{bmatrix} W_1
            + \mathbf{b} W_1 + \mathbf{c}_1

        One product of :class:`StemInputs` (built once for all members) instead of four dense and two sparse
        products per member: with the 64-85 columns a batch of one search space uses, 13-18 % less dense
        arithmetic per prediction; the median call 1.02-1.17x as fast over the spaces, batch sizes and thread
        counts of ``benchmarks/predictor_throughput.py --unfolded``'s two runs. Equal to the layers it replaces
        up to rounding (the sums are grouped differently). ``None`` when the first layer has a nonzero or learned
        ``eps``, or its MLP does not start with a ``Linear`` and a ``ReLU``: :meth:`embed_graphs` then runs the
        layers as they are.
        """
        conv = self.convs[0] if len(self.convs) else None
        if (
            conv is None
            or conv.train_eps
            or float(conv.eps) != 0.0
            or not isinstance(conv.nn, nn.Sequential)
            or len(conv.nn) < 2
            or not isinstance(conv.nn[0], nn.Linear)
            or not isinstance(conv.nn[1], nn.ReLU)
        ):
            return None
        with torch.no_grad():
            a, b = self.node_lin.weight.t(), self.node_lin.bias  # (F, H), (H,)
            r = conv.lin_rev.weight.t()  # (H, H)
            forward_type = (torch.arange(conv.num_edge_types) < conv.num_edge_types // 2).unsqueeze(1)
            edges = conv.edge_emb + torch.where(forward_type, b, b @ r)  # each edge also carries its source's bias
            w1, c1 = conv.nn[0].weight.t(), conv.nn[0].bias
            return FoldedStem(torch.cat([a, a @ r, edges]) @ w1, b @ w1 + c1)

    def embed_graphs(
        self,
        x: Tensor,
        adj: DirectedAdjacency,
        batch: Tensor,
        num_graphs: int,
        stem: tuple[StemInputs, FoldedStem] | None = None,
    ) -> Tensor:
        """Node features ``(N, F)`` of ``num_graphs`` graphs -> graph embeddings ``(G, R)``.

        ``stem``: the batch's :func:`stem_inputs` and this network's :meth:`folded_stem`, which replace the
        input projection and the first layer's aggregation (prediction only: autograd must be off)."""
        if torch.is_grad_enabled():
            if stem is not None:
                raise ValueError("the folded stem is for prediction: run embed_graphs under torch.no_grad()")
            h = self.node_lin(x)  # (N, H)
            for conv in self.convs:
                h = torch.relu(conv(h, adj))  # (N, H)
        elif stem is not None:  # prediction, the first layer folded (see folded_stem)
            inputs, folded = stem
            h = torch.mm(inputs.u, folded.weight.index_select(0, inputs.cols)).add_(folded.bias).relu_()
            h = sequential_in_place(list(self.convs[0].nn)[2:], h).relu_()  # (a slice of nn would build a module)
            for conv in self.convs[1:]:
                h = conv(h, adj).relu_()
        else:  # prediction: biases and ReLUs in place (bit-identical, a fifth faster; see DirectedGINEConv)
            h = sequential_in_place(self.node_lin, x)
            for conv in self.convs:
                h = conv(h, adj).relu_()
        parts = [global_mean_pool(h, batch, num_graphs), global_max_pool(h, batch, num_graphs)]
        if self.config.recipe_readout:  # sum of the logit_kd and (when present) hint node states
            is_recipe = (x[:, self.recipe_columns] > 0.5).any(1, keepdim=True)  # (N, 1)
            parts.append(global_add_pool(h * is_recipe, batch, num_graphs))
        if self.config.sum_readout:
            parts.append(global_add_pool(h, batch, num_graphs))
        return torch.cat(parts, 1)

    def embed_tasks(
        self,
        classes: Tensor,
        class_batch: Tensor,
        glob: Tensor,
        noise: float = 0.0,
        generator: torch.Generator | None = None,
        exact: Tensor | None = None,
    ) -> Tensor:
        """Raw probe features -> task embeddings ``(T, H)``; ``noise`` adds N(0, noise²) to the standardised
        features (a training-time regulariser), except to the global features where ``exact`` (a bool mask of
        ``global_features``) is True."""
        # clipped: a task far outside the training range is treated as the nearest edge, not extrapolated
        classes = ((classes - self.class_mean) / self.class_std).clamp(-INPUT_CLIP, INPUT_CLIP)
        glob = ((glob - self.global_mean) / self.global_std).clamp(-INPUT_CLIP, INPUT_CLIP)
        if noise > 0:
            classes = classes + noise * torch.randn(classes.shape, generator=generator)
            glob_noise = noise * torch.randn(glob.shape, generator=generator)
            glob = glob + (glob_noise if exact is None else glob_noise.masked_fill(exact, 0.0))
        return self.task(classes, class_batch, glob)

    def head_logits(self, graph_emb: Tensor, task_emb: Tensor, log2_budget: Tensor) -> Tensor:
        """``(G, R)`` graph, ``(G, H)`` task embeddings and ``(G,)`` log2 epochs -> ``(G,)`` logits."""
        budget = ((log2_budget - self.budget_mean) / self.budget_std).unsqueeze(1)  # (G, 1)
        cond = torch.cat([task_emb, budget], 1)  # (G, H + 1)
        gamma, beta = self.film(cond).chunk(2, dim=1)  # (G, R) each
        z = graph_emb * (1 + gamma) + beta
        return self.head(torch.cat([z, cond], 1)).squeeze(1)  # (G,)

    def forward(
        self,
        graph,
        classes: Tensor,
        class_batch: Tensor,
        glob: Tensor,
        task_index: Tensor,
        log2_budget: Tensor,
        adj: DirectedAdjacency | None = None,
    ) -> Tensor:
        """Logits of the accuracy of every graph of ``graph`` (an :func:`~predictor.graph.encode_batch` batch).

        Args:
            graph: batch of ``G`` student graphs.
            classes, class_batch, glob: the probe features of ``T`` tasks (see :class:`TaskEncoder`).
            task_index: ``(G,)`` task of each graph.
            log2_budget: ``(G,)`` log2 of the training epochs.
            adj: the batch's adjacency, when the caller already built it.
        """
        adj = adjacency_of(graph, len(self.layout.edge_kinds)) if adj is None else adj
        g = self.embed_graphs(graph.x, adj, graph.batch, graph.num_graphs)
        t = self.embed_tasks(classes, class_batch, glob)
        return self.head_logits(g, t[task_index], log2_budget)
