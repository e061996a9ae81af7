"""Tiny fake datasets in their native layouts, generated in tmp_path at test time.

Images are small noise pictures, seeded by their path so that every file has
different bytes (duplicates are made on purpose only). No real images are
committed; the real samples are read through the `shared_data` fixture.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from fsfer_bench.data.loading import DataSources
from fsfer_bench.data.options import LoadOptions

SIDE = 24


def noise(path: Path | str, size: tuple[int, int] = (SIDE, SIDE), mode: str = "RGB") -> Image.Image:
    """A noise image whose pixels depend on `path`, in any PIL mode."""
    rng = np.random.default_rng(zlib.crc32(str(path).encode()))
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray((np.asarray(rgb.convert("L"), np.uint16) * 257).astype(np.uint16))
    if mode == "P":  # a grey palette, as JAFFE's palette TIFFs have
        return rgb.convert("L").convert("RGB").quantize(16)
    return rgb.convert(mode)


def image(path: Path, size: tuple[int, int] = (SIDE, SIDE), mode: str = "RGB") -> Path:
    """Write a noise image at `path` (format from the extension) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise(path, size, mode).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def truncate(path: Path) -> Path:
    """Cut a file to half its bytes, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def sources(root: Path, **paths: str) -> DataSources:
    return DataSources(root, dict(paths))


def options(**kw: object) -> LoadOptions:
    return LoadOptions(**{"image_size": 16, **kw})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the layouts


def cfee(root: Path, per_class: int = 2, labels: tuple[int, ...] = (1, 2, 8, 12)) -> Path:
    """CFEE/: images/NNNN.jpg + label.csv; `per_class` subjects per label, one image each."""
    folder = root / "CFEE"
    rows, index = [], 1
    for label in labels:
        for subject in range(per_class):
            image(folder / "images" / f"{index:04d}.jpg", (64, 48))
            rows.append([f"{index:04d}", 100 + subject, label, "x", "simple" if label <= 7 else "compound"])
            index += 1
    write_csv(folder / "label.csv", ["Index", "identity", "emotion_idx", "emotion_cat", "type"], rows)
    return folder


def rafdb(root: Path, per_label: int = 2, parts: tuple[str, ...] = ("basic", "compound")) -> Path:
    """RAF-DB/{basic,compound}/EmoLabel/list_patition_label.txt + Image/aligned/*_aligned.jpg."""
    folder = root / "RAF-DB"
    for part, n_labels in (("basic", 7), ("compound", 11)):
        if part not in parts:
            continue
        lines = []
        for label in range(1, n_labels + 1):
            for k in range(per_label):
                name = f"{'train' if k % 2 == 0 else 'test'}_{label:03d}{k:02d}"
                image(folder / part / "Image" / "aligned" / f"{name}_aligned.jpg", (32, 32))
                lines.append(f"{name}.jpg {label}")
        (folder / part / "EmoLabel").mkdir(parents=True, exist_ok=True)
        (folder / part / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return folder


def ckplus_native(root: Path, frames: int = 6) -> Path:
    """CK+/cohn-kanade-images/S###/###/*.png + Emotion/... for three sequences, one of them unlabelled."""
    folder = root / "CK+"
    sequences = {("S005", "001"): 3.0, ("S005", "002"): 5.0, ("S010", "001"): 7.0, ("S010", "003"): None}
    for (subject, seq), label in sequences.items():
        for f in range(1, frames + 1):
            image(folder / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{f:08d}.png", (80, 60), "L")
        if label is not None:
            emotion = folder / "Emotion" / subject / seq / f"{subject}_{seq}_{frames:08d}_emotion.txt"
            emotion.parent.mkdir(parents=True, exist_ok=True)
            emotion.write_text(f"   {label:.7e}\n")
    return folder


def ck48(root: Path) -> Path:
    """CKplus48/<class>/S###_###_########.png: two subjects, three frames each."""
    folder = root / "CKplus48"
    for k, cls in enumerate(("anger", "happy", "surprise")):
        for subject in ("S011", "S022"):
            for frame in range(3):
                image(folder / cls / f"{subject}_{k + 1:03d}_{frame + 10:08d}.png", (48, 48), "L")
    return folder


def jaffe(root: Path) -> Path:
    """JAFFE/<subj>.<EXPR><n>.<id>.tiff in palette and greyscale modes, as the real one mixes them."""
    folder = root / "JAFFE"
    n = 0
    for subject in ("KA", "YM"):
        for code in ("AN", "DI", "FE", "HA", "NE", "SA", "SU"):
            n += 1
            image(folder / f"{subject}.{code}1.{n}.tiff", (32, 32), "P" if n % 3 == 0 else "L")
    (folder / "README.txt").write_text("not an image")
    return folder


def fer2013_csv(root: Path, rows: int = 14) -> Path:
    """FER2013/fer2013.csv: emotion,pixels,Usage with 48x48 greyscale pixel strings."""
    rng = np.random.default_rng(0)
    data = [
        [k % 7, " ".join(map(str, rng.integers(0, 256, 48 * 48))), "Training" if k % 3 else "PublicTest"]
        for k in range(rows)
    ]
    return write_csv(root / "FER2013" / "fer2013.csv", ["emotion", "pixels", "Usage"], data).parent


def fer2013_folders(root: Path, per_class: int = 2) -> Path:
    """FER2013/train|test/<class>/*.jpg, the common image export."""
    folder = root / "FER2013"
    for part in ("train", "test"):
        for cls in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
            for k in range(per_class):
                image(folder / part / cls / f"{part}_{cls}_{k}.jpg", (48, 48), "L")
    return folder


def sfew(root: Path, per_class: int = 2) -> Path:
    """SFEW/Train|Val/<Class>/*.png."""
    folder = root / "SFEW"
    for part in ("Train", "Val"):
        for cls in ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"):
            for k in range(per_class):
                image(folder / part / cls / f"{cls}_{k}.png", (40, 30))
    return folder


AFFECTNET_HEADER = [
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression",
    "valence", "arousal",
]  # fmt: skip


def affectnet(root: Path) -> Path:
    """AffectNet/training.csv + Manually_Annotated_Images/<sub>/<file>.jpg; codes 0-10, 8-10 to be dropped.

    Each image is grey with a red face box at (10, 20, 30, 30), so crops can be checked.
    """
    folder = root / "AffectNet"
    rows = []
    for code in range(11):
        rel = f"{code + 1}/{code:02d}abc.png"
        path = folder / "Manually_Annotated_Images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        a = np.full((80, 60, 3), 128, np.uint8)
        a[20:50, 10:40] = (255, 0, 0)
        Image.fromarray(a).save(path)
        rows.append([rel, 10, 20, 30, 30, "1;2;3", code, 0.1, 0.2])
    write_csv(folder / "training.csv", AFFECTNET_HEADER, rows)
    return folder


def manifest(folder: Path, rows: list[list], header: tuple[str, ...] = ("path", "label", "subject")) -> Path:
    """`folder`/manifest.csv with `rows`; images named in it are written unless they leave the folder."""
    for row in rows:
        target = folder / row[0]
        if ".." not in row[0] and not Path(row[0]).is_absolute() and not target.exists():
            image(target)
    write_csv(folder / "manifest.csv", list(header), rows)
    return folder


def emotionet(root: Path) -> Path:
    rows = [[f"img/{k}.jpg", label, ""] for k, label in enumerate(["happy", "Happily surprised", "awed", "sad"] * 2)]
    return manifest(root / "EmotioNet", rows)


def miniimagenet(root: Path) -> Path:
    """miniImageNet/images/<wnid><8 digits>.jpg + train/val/test.csv, two classes per split."""
    folder = root / "miniImageNet"
    for split, wnids in (("train", ["n01", "n02"]), ("val", ["n03", "n04"]), ("test", ["n05", "n06"])):
        rows = []
        for wnid in wnids:
            for k in range(3):
                name = f"{wnid}{k:08d}.jpg"
                image(folder / "images" / name, (32, 32))
                rows.append([name, wnid])
        write_csv(folder / f"{split}.csv", ["filename", "label"], rows)
    return folder


def class_folders(folder: Path, classes: dict[str, int], mode: str = "RGB", ext: str = "png") -> Path:
    """`folder`/<class>/<k>.<ext> with the given number of images per class (0: an empty folder)."""
    for cls, n in classes.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            image(folder / cls / f"{k}.{ext}", mode=mode)
    return folder
