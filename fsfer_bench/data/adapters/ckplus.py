"""CK+ (Lucey et al., CVPR-W 2010), in its native layout or as the community's CK+48 crops.

Native: `cohn-kanade-images/S005/001/S005_001_00000001.png` frames and
`Emotion/S005/001/S005_001_000000NN_emotion.txt` (one float). Only labelled
sequences count; the last `peak_frames` frames show the expression, and with
`first_frame_neutral` the first frame is a neutral example. The frames are
whole 640x490 pictures, cut to `FACE_CROP` without `--face-align`.

CK+48: `<class>/S<subj>_<seq>_<frame>.png`, 48x48 crops of the last frames.

Either way the subject is `S005`, and the sequence stays visible in `files`.
"""

from __future__ import annotations

import re
from pathlib import Path

from fsfer_bench.data.adapters.api import (
    Item,
    Listing,
    Problem,
    coded_label,
    image_files,
    read_text,
    register_layout,
    subfolders,
)
from fsfer_bench.data.adapters.folder import scan_class_folders
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import DataError

VERSION = "1"
LABELS = {
    0: "neutral",
    1: "angry",
    2: "contempt",
    3: "disgusted",
    4: "fearful",
    5: "happy",
    6: "sad",
    7: "surprised",
}
CK48_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)
#: A centred square of 0.8 of the frame height (392 px of 640x490), above the shoulders: CK+
#: faces sit near the centre of the frame. Approximate; --face-align finds the face.
FACE_CROP = ((1 - 0.8 * 490 / 640) / 2, 0.1, 0.8 * 490 / 640, 0.8)
FRAMES, LABEL_DIR = "cohn-kanade-images", "Emotion"


def is_native(folder: Path) -> bool:
    return (folder / FRAMES).is_dir() and (folder / LABEL_DIR).is_dir()


def is_ck48(folder: Path) -> bool:
    return any(CK48_NAME.match(p.name) for sub in subfolders(folder) for p in image_files(sub)[:1])


@register_layout(
    "CKplus",
    database="CK+",
    folders=("CKplus", "CK+", "CKplus48", "CK+48"),
    layout=f"{FRAMES}/S005/001/*.png + {LABEL_DIR}/S005/001/*_emotion.txt, or CK+48's <class>/S005_001_NN.png",
    source="https://www.jeffcohn.net/Resources/, by the CK+ agreement of the University of Pittsburgh; "
    "the CK+48 crops are made from it",
    looks_like=lambda folder: is_native(folder) or is_ck48(folder),
)
def scan(folder: Path, options: LoadOptions) -> Listing:
    if is_native(folder):
        return scan_native(folder, options)
    return scan_class_folders(folder, options, name="CKplus", domain="lab", version=VERSION, subject_of=_ck48_subject)


def _ck48_subject(path: Path) -> str | None:
    match = CK48_NAME.match(path.name)
    return match.group(1).upper() if match else None


def scan_native(folder: Path, options: LoadOptions) -> Listing:
    if options.peak_frames < 1:
        raise DataError(f"CK+: peak_frames must be at least 1, got {options.peak_frames}")
    listing = Listing("CKplus", VERSION, folder, "lab", items=[])
    for label_file in sorted((folder / LABEL_DIR).glob("*/*/*_emotion.txt")):
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        where = label_file.relative_to(folder).as_posix()
        try:
            label = coded_label(read_text(label_file).strip(), LABELS, where)
        except DataError as exc:
            label = Problem("garbled label file", where, str(exc))
        frames = image_files(folder / FRAMES / subject / sequence)
        if isinstance(label, str) and not frames:
            label = Problem("missing images", where, f"no frames in {FRAMES}/{subject}/{sequence}")
        if isinstance(label, Problem):
            listing.problems.append(label)
            continue
        peak = frames[-options.peak_frames :]
        chosen = [(f, label) for f in peak]
        if options.first_frame_neutral and frames[0] not in peak:
            chosen.insert(0, (frames[0], "neutral"))
        listing.items += [Item(f, lab, subject.upper(), FACE_CROP, relative=True) for f, lab in chosen]
    return listing
