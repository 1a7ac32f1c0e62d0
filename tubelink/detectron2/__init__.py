"""detectron2 bridge: with detectron2 installed, TubeLink trains, evaluates and runs through detectron2 itself.

Importing this package (never done by `import tubelink`) needs detectron2 and:
  - registers the TubeLink meta-architecture in detectron2's META_ARCH_REGISTRY,
  - mirrors every tubelink dataset split (and its metadata) into detectron2's DatasetCatalog / MetadataCatalog,
  - provides `add_tubelink_config` / `setup_cfg` for detectron2's `get_cfg()`, tubelink's evaluators as
    `detectron2.evaluation.DatasetEvaluator`s and `TubeLinkTrainer`, a `DefaultTrainer`.

    from detectron2.config import get_cfg
    import tubelink.detectron2 as tl2
    cfg = get_cfg(); tl2.add_tubelink_config(cfg); tl2.merge_tubelink_file(cfg, "configs/vipseg/tubelink_R50.yaml")
    trainer = tl2.TubeLinkTrainer(cfg); trainer.resume_or_load(resume=False); trainer.train()

Splits registered in tubelink's catalog after this import are mirrored by calling `register_all()` again.
"""

try:
    import detectron2  # noqa: F401
except ImportError as err:  # a clear message instead of a bare ModuleNotFoundError deep in the bridge
    raise ImportError(
        "tubelink.detectron2 needs detectron2, which is not installed. Install it following "
        "https://detectron2.readthedocs.io/en/latest/tutorials/install.html, or use tubelink's native engine "
        "(the default: python train_net.py --config-file ...), which needs no detectron2."
    ) from err

from .config import add_tubelink_config, merge_tubelink_file, setup_cfg
from .evaluation import TubeLinkEvaluator, VideoInference
from .registration import register_all
from .trainer import TubeLinkTrainer, load_model_weights

register_all()

__all__ = [
    "add_tubelink_config",
    "merge_tubelink_file",
    "setup_cfg",
    "register_all",
    "TubeLinkEvaluator",
    "VideoInference",
    "TubeLinkTrainer",
    "load_model_weights",
]
