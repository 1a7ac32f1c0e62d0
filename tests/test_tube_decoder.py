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
    out = _decoder()(feats, mask_features, num_frames=n)
    assert out["pred_logits"].shape == (b, 7, 6)
    assert out["pred_masks"].shape == (b, 7, n, h // 4, w // 4)
    assert out["pred_queries"].shape == (b, 7, 32)
    assert len(out["aux_outputs"]) == 3 and out["aux_outputs"][0]["pred_masks"].shape == out["pred_masks"].shape


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
