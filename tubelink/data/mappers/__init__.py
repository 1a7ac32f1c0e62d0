"""Mappers: video dict -> model input.

Training (`TubeClipMapper`, one clip of NUM_SUBCLIPS neighbouring subclips of n frames, one augmentation for the
clip; a one-frame video, i.e. an image data set, becomes a pseudo-video with one scale and crop per frame):

    {
      "dataset_name": str, "video_id": ..., "height": int, "width": int,   # original frame size
      "frame_indices": list[int],            # NUM_SUBCLIPS * n indices into the video, sorted
      "image": torch.uint8 (T, 3, H, W),     # T = NUM_SUBCLIPS * n augmented RGB frames (not padded)
      "subclips": [                          # NUM_SUBCLIPS entries, in time order
         {"frame_indices": list[int] (n),
          "masks": torch.bool (G, n, H, W),  # one tube per entity visible in any frame of the subclip
          "classes": torch.int64 (G,),       # contiguous class ids
          "track_ids": torch.int64 (G,),     # the same entity has the same id in every subclip
          "is_thing": torch.bool (G,),
          "ignore": torch.bool (n, H, W)},   # void, crowd and padding pixels
      ],
    }

Test (`iter_test_frames`): one dict per frame, streamed, {"image": uint8 (3, H, W), "frame_index", "height",
"width" (original size), "file_name", "video_id"}.
"""

from .test import iter_test_frames
from .train import TubeClipMapper

__all__ = ["TubeClipMapper", "iter_test_frames"]
