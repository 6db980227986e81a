"""The per-cell preview of 2-D samples: dots where the samples are, crosses on the true modes."""
import io

import numpy as np
import torch
from PIL import Image

from lpz.data.toy import MIXTURES
from lpz.views.pictures import MODE_RED, PREVIEW_PIXELS, preview_png


def pixels_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def is_blue(pixel) -> bool:
    return pixel[2] > pixel[0] + 40 and pixel[2] > pixel[1]


def test_the_preview_draws_each_sample_where_it_lies_and_the_modes_beneath():
    span = 1.5 * MIXTURES["gaussian8"].modes.abs().max().item()  # the ring: modes at radius 2
    points = torch.tensor([[0.0, 0.0]] * 5 + [[span * 0.5, span * 0.5], [0.0, 2.0]] + [[float("nan"), 0.0], [9 * span, 0.0]])
    picture = pixels_of(preview_png(points, "gaussian8"))

    assert picture.shape == (PREVIEW_PIXELS, PREVIEW_PIXELS, 3)
    centre, upper_right = PREVIEW_PIXELS // 2, round(0.75 * (PREVIEW_PIXELS - 1))
    assert is_blue(picture[centre, centre]) and is_blue(picture[PREVIEW_PIXELS - 1 - upper_right, upper_right])
    # Five samples in one place are darker than one.
    assert picture[centre, centre].sum() < picture[PREVIEW_PIXELS - 1 - upper_right, upper_right].sum()
    # The mode at (2, 0) is a red cross; no sample lies at (-2, 0), whose cross is red too.
    for x in (2.0, -2.0):
        column = round((x + span) * (PREVIEW_PIXELS - 1) / (2 * span))
        assert tuple(picture[centre, column]) == MODE_RED
    # The sample on the mode at (0, 2) is drawn over its cross.
    on_mode = picture[int((span - 2) * (PREVIEW_PIXELS - 1) / (2 * span)), int(span * (PREVIEW_PIXELS - 1) / (2 * span))]
    assert on_mode[2] > MODE_RED[2] + 40  # blue over red
    # Only the 2 places off the modes are blue: the sample outside the frame and the one not finite are
    # left out.
    blue = np.array([[is_blue(p) for p in row] for row in picture])
    assert 2 * 4 <= blue.sum() <= 2 * 4 + 2


def test_the_preview_of_a_dataset_without_modes_frames_its_samples():
    points = torch.tensor([[-30.0, -30.0], [30.0, 30.0]])
    picture = pixels_of(preview_png(points, "my-plugin"))
    blue = np.argwhere([[is_blue(p) for p in row] for row in picture])
    assert blue.min() < 10 and blue.max() > PREVIEW_PIXELS - 10  # both corners are in the frame
    assert not (picture == MODE_RED).all(axis=2).any()
