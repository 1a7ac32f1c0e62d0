"""The visualizer colours identities consistently and paints only the segments' pixels."""

import numpy as np

from tubelink.utils.visualizer import draw_segments, draw_semantic, identity_color


def test_identity_colors_are_stable_and_distinct():
    assert identity_color(3) == identity_color(3)
    assert len({identity_color(i) for i in range(50)}) == 50


def test_draw_segments_paints_masks_with_track_colors():
    frame = np.full((40, 60, 3), 128, np.uint8)
    seg = np.zeros((40, 60), np.int32)
    seg[5:20, 5:25] = 1
    seg[25:35, 30:55] = 2
    segments = [
        {"id": 1, "category_id": 0, "isthing": True, "track_id": 7},
        {"id": 2, "category_id": 1, "isthing": False},
    ]
    out = draw_segments(
        frame, seg, segments, ["car", "road"], class_colors=[(0, 0, 0), (0, 255, 0)], alpha=1.0, show_labels=False
    )
    # pixels inside the masks, away from the contour and the label at the centre
    assert tuple(out[7, 7]) == identity_color(7)
    assert tuple(out[33, 32]) == (0, 255, 0)
    assert tuple(out[38, 2]) == (128, 128, 128)  # background untouched
    # the same identity on another frame gets the same colour
    out2 = draw_segments(frame, np.roll(seg, 3, axis=1), segments, ["car", "road"], alpha=1.0, show_labels=False)
    assert tuple(out2[7, 10]) == identity_color(7)
    labelled = draw_segments(frame, seg, segments, ["car", "road"], alpha=1.0)
    assert (labelled != out).any(axis=-1).sum() > 20  # contours and text were drawn


def test_draw_semantic():
    frame = np.zeros((40, 40, 3), np.uint8)
    sem = np.zeros((40, 40), np.int64)
    sem[20:] = 1
    out = draw_semantic(frame, sem, ["a", "b"], class_colors=[(255, 0, 0), (0, 0, 255)], alpha=1.0)
    assert tuple(out[3, 3]) == (255, 0, 0) and tuple(out[36, 36]) == (0, 0, 255)
