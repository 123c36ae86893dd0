"""Read the panel letters printed on a figure ("A", "b", "(c)", "d)", "E.", "b1").

Why not full-page OCR: text detection over a whole figure costs 10-25 s of CPU and misses big
isolated letters that sit beside text. Panel letters are, by design, short and isolated, so we
find them ourselves and ask only the recogniser:
1. Candidate glyphs are connected components of the ink mask (dark ink on a light figure) plus
   bright components in the corners of dark regions (white letters printed on micrographs).
2. Glyphs of similar height that touch horizontally form tokens; a token of at most four glyphs
   with a clear margin around it is a candidate label. At most MAX_CANDIDATES are kept, the
   biggest first (panel letters are usually the largest isolated short text).
3. The RapidOCR (PP-OCRv4) recogniser reads the candidates in batches of 8, about 7 ms each;
   we decode its CTC output ourselves to score a letter regardless of case. Ingest reads them in
   stages, nearest a panel's top-left corner first, and stops once the letters read settle every
   panel (grounding.py `_settled`): on multi-panel figures most candidates are tick labels. The ONNX model ships
   inside the `rapidocr-onnxruntime` wheel (pinned < 1.5: we use its TextRecognizer's session
   and resize), so nothing is downloaded.
Which of the readings are really panel labels is decided by pipeline/ingest/panel_layout.py.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

MAX_CANDIDATES = 32
MIN_GLYPH_FRAC = 0.010  # glyph height bounds as a share of the shorter image side (detection scale)
MAX_GLYPH_FRAC = 0.22
MIN_GLYPH_PX = 7
LABEL_RE = re.compile(r"^[(\[]?(?P<letter>[A-Za-z])(?P<sub>[0-9]{1,2})?[)\]]?[.:,)]?$")
REC_WIDTH = 64  # recogniser input is 48 px high; short tokens need no more width than this


@dataclass(frozen=True)
class Reading:
    """One recognised candidate: the text, its recogniser score and its box in full-image pixels."""

    text: str
    score: float
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def parsed(self) -> tuple[str, str] | None:
        """(letter, sub-panel digits) when the text looks like a panel label, else None."""
        m = LABEL_RE.match(self.text.strip().replace(" ", ""))
        return (m.group("letter"), m.group("sub") or "") if m else None


log = logging.getLogger(__name__)
_lock = threading.Lock()
# OpenCV single-threaded in every process loading this module (ingest's parallel workers, the flow
# process: crops on parallel shard threads), as the README's bench measured; its threads add CPU.
cv2.setNumThreads(1)


@lru_cache(maxsize=1)
def recogniser():
    """The RapidOCR text recogniser on the lean graph of its model (recogniser_graph.py), loaded once per process."""
    import rapidocr_onnxruntime as ro
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.utils import read_yaml

    from pipeline.ingest.recogniser_graph import lean_model_path

    root = Path(ro.__file__).parent
    config = read_yaml(str(root / "config.yaml"))["Rec"]
    threads = int(os.environ.get("PMC_INSTRUCT_OCR_THREADS", "1"))  # one thread: ingest runs in parallel workers
    shipped = root / "models" / "ch_PP-OCRv4_rec_infer.onnx"
    model = lean_model_path(shipped)  # the same readings for about 3/4 of the CPU
    config.update(model_path=str(model), rec_batch_num=8,
                  rec_img_shape=[3, 48, REC_WIDTH], intra_op_num_threads=threads, inter_op_num_threads=1)
    try:
        return TextRecognizer(config)
    except Exception as exc:  # noqa: BLE001 - a damaged cached graph must not stop ingest
        if model == shipped:
            raise
        log.warning("panel-letter recogniser: %s did not load (%s); removed, using the shipped model", model, exc)
        model.unlink(missing_ok=True)
        return TextRecognizer({**config, "model_path": str(shipped)})


def _glyphs(mask: np.ndarray, gap: int, hi: int) -> list[tuple[int, int, int, int]]:
    """Boxes (y0, x0, y1, x1) of the 8-connected components of the mask dilated `gap` px sideways,
    at most `hi` tall, in sorted order. OpenCV's dilation by a symmetric line and its components'
    boxes equal scipy's binary_dilation, label and find_objects (a test compares them) for less CPU
    (the dilation of a 600x800 mask: 0.5 ms, not 10.6); sorting makes the labelling order irrelevant."""
    joined = cv2.dilate(np.ascontiguousarray(mask, dtype=bool).view(np.uint8), np.ones((1, 2 * gap + 1), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    return sorted((int(y), int(x) + gap, int(y + h), int(x + w) - gap)
                  for x, y, w, h, _ in stats[1:].tolist() if h <= hi)


def _tokens(mask: np.ndarray, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """Short runs of glyphs on one line (y0, x0, y1, x1), so "(a)", "b1" and "A." are one token each.
    Glyphs are the components of a slightly dilated mask (joins broken strokes); then glyphs on
    one line closer than 0.4 of their height are joined, left to right."""
    glyphs = _glyphs(mask, max(1, int(0.2 * lo)), hi)
    glyphs.sort(key=lambda g: g[1])
    groups: list[list[int]] = []  # [y0, x0, y1, x1]
    for y0, x0, y1, x1 in glyphs:
        for g in reversed(groups[-40:]):  # recent groups only: glyphs arrive left to right
            h = max(g[2] - g[0], y1 - y0)
            overlap = min(g[2], y1) - max(g[0], y0)
            if 0 <= x0 - g[3] <= 0.4 * h and overlap > 0.5 * min(g[2] - g[0], y1 - y0):
                g[:] = [min(g[0], y0), g[1], max(g[2], y1), max(g[3], x1)]
                break
        else:
            groups.append([y0, x0, y1, x1])
    return [(y0, x0, y1, x1) for y0, x0, y1, x1 in groups if lo <= y1 - y0 <= hi and 0 < x1 - x0 <= 3.2 * (y1 - y0)]


def _open_corner(mask: np.ndarray, token: tuple[int, int, int, int]) -> bool:
    """Nothing printed just above or just left of the token: where a panel's letter sits."""
    y0, x0, y1, x1 = token
    h = y1 - y0
    above = mask[max(0, y0 - int(1.5 * h)) : max(0, y0 - 1), x0:x1]
    left = mask[y0:y1, max(0, x0 - int(1.5 * h)) : max(0, x0 - 1)]
    return not above.any() or not left.any()


def _isolated(mask: np.ndarray, token: tuple[int, int, int, int], allowed: float = 0.04) -> bool:
    """No other ink within a margin around the token (panel letters stand apart from other text)."""
    y0, x0, y1, x1 = token
    h = y1 - y0
    py, px = max(1, int(0.3 * h)), max(1, int(0.5 * h))
    Y0, X0 = max(0, y0 - py), max(0, x0 - px)
    Y1, X1 = min(mask.shape[0], y1 + py), min(mask.shape[1], x1 + px)
    ring = mask[Y0:Y1, X0:X1].copy()
    ring[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0] = False
    return ring.sum() <= allowed * ring.size


def candidate_tokens(mask: np.ndarray, gray: np.ndarray, regions: list[tuple[int, int, int, int]] = ()
                     ) -> list[tuple[int, int, int, int]]:
    """Isolated short tokens in dark-on-light ink and in the corners of dark regions."""
    side = min(mask.shape)
    lo = max(MIN_GLYPH_PX, int(MIN_GLYPH_FRAC * side))
    hi = max(lo + 2, int(MAX_GLYPH_FRAC * side), int(0.06 * max(mask.shape)))  # wide, short figures
    dark_hi = max(lo + 2, int(0.12 * side), int(0.05 * max(mask.shape)))  # speckled micrographs: stricter
    found = [(t, _open_corner(mask, t)) for t in _tokens(mask, lo, hi) if _isolated(mask, t)]
    on_dark: list[tuple[tuple[int, int, int, int], bool]] = []
    # White letters on dark panels: the whole panel is one ink blob, so look inside dark blobs.
    blobs, _ = ndimage.label(mask)
    boxes = [(sl[0].start, sl[1].start, sl[0].stop, sl[1].stop) for sl in ndimage.find_objects(blobs) if sl]
    for y0, x0, y1, x1 in dict.fromkeys(boxes + list(regions)):
        if (y1 - y0) < 3 * dark_hi and (x1 - x0) < 3 * dark_hi:
            continue
        # the top-left corner of a dark region, or all of it when it is large: dark panels
        # printed without gutters form one region with letters inside it
        whole = (y1 - y0) * (x1 - x0) > 0.2 * mask.size
        ch, cw = (y1 - y0, x1 - x0) if whole else (min(y1 - y0, 2 * dark_hi), min(x1 - x0, 4 * dark_hi))
        corner = gray[y0 : y0 + ch, x0 : x0 + cw]
        if corner.size == 0 or np.median(corner) > 90:
            continue
        bright = corner > max(150, np.median(corner) + 90)
        for t in _tokens(bright, lo, dark_hi):
            if _isolated(bright, t, 0.06):  # micrographs are speckled
                box = tuple(int(v) for v in (t[0] + y0, t[1] + x0, t[2] + y0, t[3] + x0))
                on_dark.append((box, _open_corner(bright, t)))

    def best(items: list, n: int) -> list[tuple[int, int, int, int]]:
        # Open corners first, then the tallest (a panel letter is usually the biggest isolated
        # text), then the highest up (the first row of letters heads the figure).
        items = sorted(dict(items).items(), key=lambda f: (not f[1], -((f[0][2] - f[0][0]) // 2), f[0][0]))
        return [t for t, _ in items[:n]]

    return list(dict.fromkeys(best(found, MAX_CANDIDATES) + best(on_dark, MAX_CANDIDATES)))


# Candidates are read in stages by their distance (in their own heights) from the nearest
# region's top-left corner, where panel letters are printed; the last stage holds the rest.
STAGE_REACH = (1.5, 4.0, 8.0)


def corner_distance(tokens: list[tuple[int, int, int, int]], regions: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Per token (y0, x0, y1, x1): how far its top-left lies from the top-left of the nearest region
    at least three token heights on each side, in token heights (inf with no such region)."""
    if not tokens or not regions:
        return np.full(len(tokens), np.inf)
    t = np.asarray(tokens, dtype=float)[:, None, :]  # (tokens, 1, 4)
    r = np.asarray(regions, dtype=float)[None, :, :]  # (1, regions, 4)
    h = np.maximum(1.0, t[..., 2] - t[..., 0])
    big = ((r[..., 2] - r[..., 0]) >= 3 * h) & ((r[..., 3] - r[..., 1]) >= 3 * h)
    dist = np.maximum(np.abs(t[..., 0] - r[..., 0]), np.abs(t[..., 1] - r[..., 1])) / h
    return np.where(big, dist, np.inf).min(axis=1)


def stages(tokens: list[tuple[int, int, int, int]], regions: list[tuple[int, int, int, int]]
           ) -> list[list[tuple[int, int, int, int]]]:
    """The candidates split by STAGE_REACH, candidate order kept inside a stage: one list per
    reach and a last one for the rest (tokens farther away, or with no region); lists may be empty."""
    which = np.searchsorted(STAGE_REACH, corner_distance(tokens, regions), side="left")
    return [[tok for tok, k in zip(tokens, which) if k == stage] for stage in range(len(STAGE_REACH) + 1)]


def _dark_paper(crop: np.ndarray) -> bool:
    """Light text on a dark ground: the crop's border is dark."""
    gray = crop.mean(axis=2)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) < 110


def read_tokens(img: Image.Image, tokens: list[tuple[int, int, int, int]], factor: float) -> list[Reading]:
    """Recognise each token (detection-scale box) on the full-resolution image in one batch."""
    if not tokens:
        return []
    rgb = img.convert("RGB")
    w, h = rgb.size
    crops, boxes = [], []
    for y0, x0, y1, x1 in tokens:
        pad = max(2, int(0.25 * (y1 - y0) * factor))
        X0, Y0 = max(0, int(x0 * factor) - pad), max(0, int(y0 * factor) - pad)
        X1, Y1 = min(w, int(np.ceil(x1 * factor)) + pad), min(h, int(np.ceil(y1 * factor)) + pad)
        crop = np.asarray(rgb.crop((X0, Y0, X1, Y1)))
        if crop.size and _dark_paper(crop):
            crop = 255 - crop  # the recogniser was trained on dark text on light paper
        crops.append(np.ascontiguousarray(crop[:, :, ::-1]))  # RGB -> BGR, as the recogniser expects
        boxes.append((int(x0 * factor), int(y0 * factor), int(np.ceil(x1 * factor)), int(np.ceil(y1 * factor))))
    with _lock:  # one batch at a time keeps the CPU use of parallel ingest workers predictable
        results = _recognise(recogniser(), crops)
    return [Reading(text, score, *box) for (text, score), box in zip(results, boxes)]


@lru_cache(maxsize=1)
def _char_index(rec) -> dict[str, int]:
    """Class index of each of the recogniser's 6,625 characters (built once: 2 ms each time)."""
    return {c: i for i, c in enumerate(rec.postprocess_op.character)}


def _recognise(rec, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """CTC-decode each crop; the score is the mean probability of the emitted characters, with
    both cases of a letter counted together: "C" and "c" are one letter for pairing, and the case
    of look-alike letters is settled by the whole label set (panel_layout.py)."""
    chars = rec.postprocess_op.character
    index = _char_index(rec)
    # Batches of similar aspect ratio, each padded to its widest crop. (Padding each crop only to
    # its own width, rounded up to 16 px, saves little and read 7 fewer of 355 synthetic letters.)
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / max(1, crops[i].shape[0]))
    found: dict[int, tuple[str, float]] = {}
    for start in range(0, len(order), 8):
        batch = order[start : start + 8]
        ratio = max([REC_WIDTH / 48] + [crops[i].shape[1] / max(1, crops[i].shape[0]) for i in batch])
        norm = np.stack([rec.resize_norm_img(crops[i], ratio) for i in batch]).astype(np.float32)
        probs = rec.session(norm)[0]  # (batch, time, classes), softmax output
        for k, i in enumerate(batch):
            best = probs[k].argmax(axis=1)
            text, scores, prev = "", [], 0
            for t, c in enumerate(best):
                if c != 0 and c != prev:  # 0 is the CTC blank; repeats collapse
                    ch = chars[c]
                    other = index.get(ch.swapcase()) if ch.isalpha() and ch.swapcase() != ch else None
                    scores.append(float(probs[k, t, c] + (probs[k, t, other] if other is not None else 0.0)))
                    text += ch
                prev = c
            found[i] = (text, float(np.mean(scores)) if scores else 0.0)
    return [found[i] for i in range(len(crops))]


def read_labels(img: Image.Image, mask: np.ndarray, factor: float,
                regions: list[tuple[int, int, int, int]] = (),
                enough: Callable[[list[Reading], bool], bool] | None = None) -> list[Reading]:
    """Readings of the candidate tokens in `img`; `mask` is the ink mask at detection scale and
    `regions` (y0, x0, y1, x1) are extra areas (XY-cut leaves) whose dark corners may hold letters.
    With `enough`, candidates are read in stages, nearest the regions' top-left corners first, and
    reading stops once `enough(readings, only_far_left)` says the letters are settled: most
    candidates are tick labels and legend text, and the recogniser is most of ingest's CPU.
    `only_far_left` is True when just the candidates away from every corner are still unread."""
    small = img.reduce(int(factor)) if factor > 1 else img
    gray = np.asarray(small.convert("L"))
    if gray.shape != mask.shape:
        gray = gray[: mask.shape[0], : mask.shape[1]]
    tokens = candidate_tokens(mask, gray, regions)
    if enough is None:
        return read_tokens(img, tokens, factor)
    readings: list[Reading] = []
    batches = stages(tokens, list(regions))
    for k, stage in enumerate(batches):
        if not stage:
            continue
        if k and enough(readings, k == len(batches) - 1):
            break
        readings += read_tokens(img, stage, factor)
    return readings
