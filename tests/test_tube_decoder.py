"""The tube decoder predicts one class per tube and one mask per frame, for any subclip length."""

import pytest
import torch

from tubelink.modeling.transformer_decoder import TubeTransformerDecoder


def _decoder():
    torch.manual_seed(0)
    return TubeTransformerDecoder(
        in_channels=32,
        num_classes=5,
        hidden_dim=32,
        num_queries=7,
        nheads=4,
        dim_feedforward=64,
        dec_layers=3,
        mask_dim=32,
    ).eval()


@pytest.mark.parametrize("n", [1, 2, 6])
def test_output_shapes_for_any_subclip_length(n):
    b, h, w = 2, 32, 48
    feats = [torch.randn(b * n, 32, h // s, w // s) for s in (32, 16, 8)]
    mask_features = torch.randn(b * n, 32, h // 4, w // 4)
    dec = _decoder().train()  # dropout is 0: training differs by its deep supervision only
    out = dec(feats, mask_features, num_frames=n)
    assert out["pred_logits"].shape == (b, 7, 6)
    assert out["pred_masks"].shape == (b, 7, n, h // 4, w // 4)
    assert out["pred_queries"].shape == (b, 7, 32)
    assert len(out["aux_outputs"]) == 3 and out["aux_outputs"][0]["pred_masks"].shape == out["pred_masks"].shape
    # inference: the same last prediction (attention masks from features resized to the attention sizes, shared
    # by the heads), without the intermediate predictions
    with torch.no_grad():
        fast = dec.eval()(feats, mask_features, num_frames=n)
    assert set(fast) == {"pred_logits", "pred_masks", "pred_queries"}
    for key in fast:
        assert torch.allclose(fast[key], out[key], atol=1e-5, rtol=0), key


def test_frames_of_one_subclip_interact_but_clips_do_not():
    dec = _decoder()
    n, h, w = 2, 32, 32
    feats = [torch.randn(2 * n, 32, h // s, w // s) for s in (32, 16, 8)]
    mf = torch.randn(2 * n, 32, h // 4, w // 4)
    base = dec(feats, mf, n)["pred_logits"]
    feats2 = [f.clone() for f in feats]
    feats2[0][1] += 5.0  # change frame 1 of clip 0
    changed = dec(feats2, mf, n)["pred_logits"]
    assert not torch.allclose(base[0], changed[0])  # the tube sees all its frames
    assert torch.allclose(base[1], changed[1])  # another clip is unaffected
    with pytest.raises(ValueError, match="cannot be split"):
        dec(feats, mf, 3)


def test_decoder_layers_get_mask2formers_xavier_init():
    """Mask2Former (and the original's mmdet port) draw every weight matrix of the attention / FFN layers with
    xavier; "pytorch" keeps PyTorch's defaults (out_proj and FFN weights about half as large)."""

    def stds(init):
        torch.manual_seed(0)
        d = TubeTransformerDecoder(
            32, 5, hidden_dim=64, num_queries=7, nheads=4, dim_feedforward=256, dec_layers=3, mask_dim=32, init=init
        )
        ffn, attn = d.transformer_ffn_layers[0], d.transformer_cross_attention_layers[0].multihead_attn
        return float(ffn.linear2.weight.detach().std()), float(attn.out_proj.weight.detach().std())

    xavier, default = stds("xavier"), stds("pytorch")
    assert xavier[0] == pytest.approx((2 / (256 + 64)) ** 0.5, rel=0.05)  # xavier: std sqrt(2 / (fan_in + fan_out))
    assert xavier[1] == pytest.approx((2 / (64 + 64)) ** 0.5, rel=0.05)
    assert default[0] < 0.6 * xavier[0] and default[1] < 0.7 * xavier[1]
    with pytest.raises(ValueError, match="DECODER_INIT"):
        TubeTransformerDecoder(32, 5, hidden_dim=32, num_queries=7, nheads=4, dec_layers=1, mask_dim=32, init="normal")
