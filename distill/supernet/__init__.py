"""Weight-sharing supernets: one set of weights per sub-space, any sub-network evaluated with inherited weights.

AutoDistil (Xu et al., 2022) with Once-for-All's elastic operators (Cai et al., ICLR 2020) and the sandwich
rule (Yu & Huang, ICCV 2019):

* :mod:`.subspace` -- the K sub-spaces (base, small, tiny) of a registered search space, whose sub-networks are
  genomes of that space;
* :mod:`.base` -- the :class:`Supernet` contract (``set_active``, ``forward_features``, ``recalibrate_bn``,
  ``extract``) and the registry of supernet classes by student family;
* :mod:`.elastic`, :mod:`.staged_cnn` -- the elastic layers and the staged CNN's supernet;
* :mod:`.vit_subspace`, :mod:`.elastic_vit` -- the vision transformer's sub-spaces and supernet;
* :mod:`.objectives` -- the distillation objectives of the supernet training;
* :mod:`.training` -- the sandwich-rule training, crash-safe and resumable, and its cost;
* :mod:`.evaluate` -- inherited-weight accuracy of sub-networks.
"""

from distill.supernet import elastic_vit as _elastic_vit  # noqa: F401  (registers the ViT's supernet)
from distill.supernet import staged_cnn as _staged_cnn  # noqa: F401  (registers the staged CNN's supernet)
from distill.supernet.base import SANDWICH, SUPERNETS, Supernet, build_supernet
from distill.supernet.subspace import SUBSPACES, ElasticStage, StagedCNNSubSpace, SubSpace, get_subspaces
from distill.supernet.vit_subspace import ElasticViTStage, ViTSubSpace

__all__ = [
    "SANDWICH",
    "SUBSPACES",
    "SUPERNETS",
    "ElasticStage",
    "ElasticViTStage",
    "StagedCNNSubSpace",
    "SubSpace",
    "Supernet",
    "ViTSubSpace",
    "build_supernet",
    "get_subspaces",
]
