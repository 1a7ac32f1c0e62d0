"""The fast inference path gives the outputs of the previous one (fixed weights, fp32).

`_previous_inference` restates the earlier inference (every decoder layer predicted Q x n masks at stride 4, the
attention mask was derived from them and repeated per head, all Q x n logits were upsampled to the padded input and
cropped, then the predictor resized them all to the output size). The model now predicts classes and mask
embeddings only, derives attention masks at the attention sizes, and post-processing materialises the masks of the
queries it selects. Both feed the same predictor; per-frame VPS / VSS / VIS outputs must be equal.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tubelink  # noqa: F401
from test_meta_arch import small_cfg
from tubelink.data import MetadataCatalog
from tubelink.inference import VideoPredictor
from tubelink.modeling import build_model
from tubelink.tracking import build_tracker


def _previous_decoder(dec, multi_scale, mask_features, n):
    """The earlier eval-mode decoder (one subclip): (Q, C+1) logits, (Q, n, h, w) stride-4 logits, (Q, D) queries."""
    srcs, poss, sizes = [], [], []
    for level, x in enumerate(multi_scale):
        h, w = x.shape[-2:]
        sizes.append((h, w))
        pos = dec.pe_layer.forward_tube(n, x)
        src = dec.input_proj[level](x) + dec.level_embed.weight[level][None, :, None, None]
        srcs.append(src.view(1, n, -1, h * w).permute(0, 1, 3, 2).reshape(1, n * h * w, -1))
        poss.append(pos.view(1, n, -1, h * w).permute(0, 1, 3, 2).reshape(1, n * h * w, -1))
    mask_features = mask_features.view(1, n, *mask_features.shape[1:])
    query_pos, output = dec.query_embed.weight[None], dec.query_feat.weight[None]

    def heads(output, size):
        decoded = dec.decoder_norm(output)
        masks = torch.einsum("bqc,btchw->bqthw", dec.mask_embed(decoded), mask_features)
        small = F.interpolate(masks.flatten(1, 2).float(), size=size, mode="bilinear", align_corners=False)
        blocked = small.view(1, masks.shape[1], -1).sigmoid() < 0.5
        return dec.class_embed(decoded), masks, blocked.repeat_interleave(dec.num_heads, 0)  # one copy per head

    logits, masks, attn_mask = heads(output, sizes[0])
    for i in range(dec.num_layers):
        level = i % dec.num_feature_levels
        attn_mask = attn_mask & ~attn_mask.all(-1, keepdim=True)
        cross = dec.transformer_cross_attention_layers[i]
        attended = cross.multihead_attn(
            output + query_pos, srcs[level] + poss[level], srcs[level], attn_mask=attn_mask, need_weights=False
        )[0]
        output = cross.norm(output + attended)
        output = dec.transformer_self_attention_layers[i](output, query_pos)
        output = dec.transformer_ffn_layers[i](output)
        logits, masks, attn_mask = heads(output, sizes[(i + 1) % dec.num_feature_levels])
    return logits[0], masks[0], output[0]


class PreviousModel:
    """The earlier TubeLink inference on `model`'s weights: dense (Q, n, H, W) logits at the input size."""

    def __init__(self, model):
        self.model = model

    @torch.no_grad()
    def __call__(self, items):
        (item,) = items
        m = self.model
        n = item["image"].shape[0]
        images, (h, w) = m._images(item["image"])
        mask_features, _, multi_scale = m.sem_seg_head.pixel_decoder.forward_features(m.backbone(images))
        logits, masks, queries = _previous_decoder(m.sem_seg_head.predictor, multi_scale, mask_features, n)
        masks = F.interpolate(masks.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
        linked = m._link(queries, item.get("prev_queries"))
        return [
            {
                "pred_logits": logits,
                "pred_masks": masks[..., :h, :w],
                "pred_queries": linked if m.link_test_previous == "linked" else queries,
                "pred_embeds": m.embed_head(linked) if m.tcl_enabled else queries,
            }
        ]


def _model(task, confident=True, frames_per_forward=0):
    cfg = small_cfg()
    cfg.MODEL.TUBE_LINK.TASK = task
    cfg.TEST.FRAMES_PER_FORWARD = frames_per_forward  # 0: the whole subclip in one batch, as before
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    if not confident:
        return cfg, model
    with torch.no_grad():  # confident real classes, so that VPS keeps segments above OBJECT_MASK_THRESHOLD
        dec = model.sem_seg_head.predictor
        dec.class_embed.weight.normal_(0.0, 3.0)
        dec.class_embed.bias.zero_()
        dec.class_embed.bias[-1] = -10.0
        dec.query_feat.weight.normal_(0.0, 3.0)  # distinct queries
        dec.mask_embed.layers[-1].weight.mul_(20.0)  # sharp, distinct masks
    return cfg, model


def _frames(num=5, size=(50, 70), out_size=(60, 83)):
    g = torch.Generator().manual_seed(1)
    for _ in range(num):
        yield {"image": torch.randint(0, 255, (3, *size), dtype=torch.uint8, generator=g), "height": out_size[0],
               "width": out_size[1]}


def _run(cfg, model, task, window, out_size):
    meta = MetadataCatalog.get(cfg.DATASETS.TRAIN[0])
    # random masks overlap much: a low overlap threshold keeps segments
    predictor = VideoPredictor(
        model, task, meta.is_thing, build_tracker(cfg), window, 0, 0.8, 0.05, instances_per_window=6
    )
    frames = list(predictor(_frames(out_size=out_size)))
    return frames, predictor.video_instances() if task == "vis" else None


def _without_score(info):
    return {k: v for k, v in info.items() if k != "score"}


def test_model_outputs_match_the_previous_inference():
    cfg, model = _model("vps")
    image = next(_frames())["image"][None].repeat(3, 1, 1, 1)
    prev = torch.randn(20, 64, generator=torch.Generator().manual_seed(2))
    (new,) = model([{"image": image, "prev_queries": prev}])
    (old,) = PreviousModel(model)([{"image": image, "prev_queries": prev}])
    for key in ("pred_logits", "pred_queries", "pred_embeds"):
        assert torch.allclose(new[key], old[key], atol=1e-5, rtol=0), key
    assert new["pred_masks"].shape == old["pred_masks"].shape == (20, 3, 50, 70)
    dense = new["pred_masks"].to_dense()
    assert torch.allclose(dense, old["pred_masks"], atol=1e-4, rtol=0)
    rows = torch.tensor([7, 2, 7])  # selected rows are exactly the dense rows
    assert torch.equal(new["pred_masks"][rows], dense[rows])
    resized = new["pred_masks"].resized((60, 83))[rows]
    assert torch.equal(resized, F.interpolate(dense[rows], size=(60, 83), mode="bilinear", align_corners=False))


@pytest.mark.parametrize("task", ["vps", "vss", "vis"])
@pytest.mark.parametrize("window,out_size,chunk", [(2, (60, 83), 0), (3, (50, 70), 0), (3, (60, 83), 2)])
def test_predictor_outputs_equal_the_previous_inference(task, window, out_size, chunk):
    """chunk 2: the backbone and pixel decoder run on 2 frames at a time (TEST.FRAMES_PER_FORWARD): other batch
    sizes reorder float sums, so scores may move by ~1e-6; maps, masks, classes and ids stay equal."""
    cfg, model = _model(task, frames_per_forward=chunk)
    tol = 1e-6 if chunk == 0 else 1e-5
    new, new_video = _run(cfg, model, task, window, out_size)
    old, old_video = _run(cfg, PreviousModel(model), task, window, out_size)
    assert [f["frame_index"] for f in new] == [f["frame_index"] for f in old] == list(range(5))
    for a, b in zip(new, old):
        if task == "vps":
            assert np.array_equal(a["panoptic_seg"][0], b["panoptic_seg"][0])
            infos_a, infos_b = a["panoptic_seg"][1], b["panoptic_seg"][1]
            assert [_without_score(i) for i in infos_a] == [_without_score(i) for i in infos_b]
            assert [i["score"] for i in infos_a] == pytest.approx([i["score"] for i in infos_b], abs=tol)
        elif task == "vss":
            assert np.array_equal(a["sem_seg"], b["sem_seg"])
        else:
            assert len(a["instances"]) == len(b["instances"])
            for x, y in zip(a["instances"], b["instances"]):
                assert (x["track_id"], x["category_id"]) == (y["track_id"], y["category_id"])
                assert x["score"] == pytest.approx(y["score"], abs=tol) and np.array_equal(x["mask"], y["mask"])
    if task == "vps":  # not vacuous: segments, and tracked things among them
        infos = [i for f in new for i in f["panoptic_seg"][1]]
        assert infos and any(i["isthing"] and i["track_id"] >= 0 for i in infos)
    if task == "vss":
        assert len(np.unique(np.stack([f["sem_seg"] for f in new]))) > 1
    if task == "vis":
        assert new_video and len(new_video) == len(old_video)
        for x, y in zip(new_video, old_video):
            assert (x["track_id"], x["category_id"], x["segmentations"]) == (
                y["track_id"], y["category_id"], y["segmentations"])
            assert x["score"] == pytest.approx(y["score"], abs=tol)


def test_bf16_autocast_stays_close_to_fp32_with_fp32_deformable_sampling(monkeypatch):
    """TEST.AMP: the pixel decoder's projections / FFNs / convolutions run in bf16 under autocast, the deformable
    sampling in fp32, and the outputs stay close to fp32."""
    import tubelink.modeling.ops.ms_deform_attn as msda
    from tubelink.inference.predictor import amp_dtype_from_config

    cfg, model = _model("vis", confident=False)  # plain random weights: no amplified logits
    image = next(_frames())["image"][None].repeat(2, 1, 1, 1)
    sampled, projected = [], []
    core = msda.ms_deform_attn_core

    def recording_core(value, shapes, locations, weights):
        sampled.append((value.dtype, locations.dtype, weights.dtype))
        return core(value, shapes, locations, weights)

    monkeypatch.setattr(msda, "ms_deform_attn_core", recording_core)
    attn = model.sem_seg_head.pixel_decoder.transformer.encoder.layers[0].self_attn
    attn.value_proj.register_forward_hook(lambda m, i, o: projected.append(o.dtype))
    (fp32,) = model([{"image": image}])
    cfg.TEST.AMP.ENABLED = True
    predictor = VideoPredictor.from_config(cfg, model, "vis", [True] * 9)
    assert predictor.amp_dtype == amp_dtype_from_config(cfg) == torch.bfloat16
    sampled.clear(), projected.clear()
    bf16 = predictor._model_outputs({"image": image})
    assert projected == [torch.bfloat16] and set(sampled) == {(torch.float32,) * 3}
    assert bf16["pred_masks"].logits.dtype == torch.bfloat16 and bf16["pred_logits"].dtype == torch.float32
    probs_fp32, probs_bf16 = fp32["pred_logits"].softmax(-1), bf16["pred_logits"].softmax(-1)
    assert (probs_fp32 - probs_bf16).abs().max() < 0.05
    masks_fp32, masks_bf16 = fp32["pred_masks"].to_dense(), bf16["pred_masks"].to_dense()
    assert ((masks_fp32 > 0) == (masks_bf16 > 0)).float().mean() > 0.97
    assert torch.nn.functional.cosine_similarity(bf16["pred_embeds"], fp32["pred_embeds"], dim=1).min() > 0.99
    cfg.TEST.AMP.DTYPE = "float64"
    with pytest.raises(ValueError, match="TEST.AMP.DTYPE"):
        amp_dtype_from_config(cfg)
