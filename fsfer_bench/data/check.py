"""`data check`: what a dataset holds and what is wrong with it, before a run finds out.

It reads the same listing the adapter loads (so it checks exactly what a run
would use), reads every file once to hash it and decode it, and reports counts
per class and subject, unreadable files, byte-identical duplicates (and those
under two labels), label problems, and classes too small for an episode shape.

A problem is fatal when a run would fail on it: a load error, or an episode
shape the classes cannot fill; and where the data is not what its author wrote
(rows a stray quote swallowed, `CHECK_ERRORS`), which a run only warns about.
With `strict`, the problems a load would only warn about (unreadable files, bad
label lines, conflicting duplicates) are fatal too, as they are for a load with
--strict.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fsfer_bench.data.adapters.api import Listing, Problem
from fsfer_bench.data.csvfiles import SWALLOWED_ROWS
from fsfer_bench.data.dataset import UNKNOWN_SUBJECT, make_dataset
from fsfer_bench.data.images import DecodeJob, open_job, run_jobs
from fsfer_bench.data.loading import DataSources, load_dataset, locate
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.paths import MAX_IMAGE_BYTES, read_capped
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.errors import EpisodeError

FATAL, WARNING = "fatal", "warning"
#: Problems a load only warns about (without --strict) that the check calls errors: the data is not what its
#: author wrote (rows a stray quote swallowed), and a run on it is not on the data the author meant.
CHECK_ERRORS = frozenset({SWALLOWED_ROWS})
#: Image sizes the check warns about: a side under MIN_SIDE px, or one side over MAX_ASPECT times the other.
MIN_SIDE, MAX_ASPECT = 16, 4.0
#: Episodes the sampler draws to see whether an episode shape can be met (subject-disjointness).
EPISODES_CHECKED = 200


@dataclass(frozen=True)
class Finding:
    severity: str  # FATAL or WARNING
    kind: str
    message: str


@dataclass
class CheckReport:
    """Counts and findings for one dataset; `fatal` says whether a run would fail."""

    name: str
    folder: Path | None
    layout: str
    classes: tuple[str, ...]
    class_counts: dict[str, int]
    class_subjects: dict[str, int]  # distinct subjects per class (0 where the dataset has none)
    subject_counts: dict[str, int]
    labels: list[str] = field(default_factory=list, repr=False)  # per readable image
    subjects: list[str] = field(default_factory=list, repr=False)
    modes: dict[str, int] = field(default_factory=dict)  # PIL mode -> images
    sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> images
    findings: list[Finding] = field(default_factory=list)
    # with `against`: (image here, image there, thumbnail correlation) of every near-copy pair
    near_duplicates: list[tuple[str, str, float]] = field(default_factory=list, repr=False)
    duplicate_groups: list[list[str]] = field(default_factory=list, repr=False)  # "file (label)" per member

    def duplicates_csv(self) -> str:
        """Every group of byte-identical files as CSV rows: group, file, label."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["group", "file", "label"])
        for number, group in enumerate(self.duplicate_groups, 1):
            for member in group:
                file, _, label = member.rpartition(" (")
                writer.writerow([number, file, label.rstrip(")")])
        return out.getvalue()

    @property
    def images(self) -> int:
        return sum(self.class_counts.values())

    @property
    def fatal(self) -> bool:
        return any(f.severity == FATAL for f in self.findings)

    def format(self) -> str:
        return format_report(self)


def check_dataset(
    name: str,
    sources: DataSources,
    options: LoadOptions | None = None,
    *,
    way: int | None = None,
    shot: int | None = None,
    query: int | None = None,
    workers: int | None = None,
    against: str | None = None,
) -> CheckReport:
    """Check dataset `name` as found through `sources`; raises DataError only where it cannot be read at all.

    With `against`, another dataset: the near-copies between the two, on the faces as a run sees them
    (`near_duplicates.py`), named in `near_duplicates` and a finding.
    """
    options = options or LoadOptions()
    adapter, folder = locate(name, sources)
    if adapter.scan is None or folder is None:  # a dataset made in memory (SynFACS): counts only
        dataset = adapter.load(folder or Path("."), options)
        labels = [dataset.classes[k] for k in dataset.labels]
        report = _counts(name, folder, adapter.layout, dataset.classes, labels, dataset.subjects.tolist())
    else:
        listing: Listing = adapter.scan(folder, options)
        report = _check_listing(name, adapter.layout, listing, options.strict, workers)
    report.findings += _episode_findings(report, way, shot, query)
    if report.images == 0:
        report.findings.append(Finding(FATAL, "no images", "no readable images"))
    if against is not None and not report.fatal:  # a dataset a run cannot load is compared once it loads
        report.near_duplicates = near_duplicate_pairs(name, against, sources, options)
        report.findings += _near_duplicate_findings(against, report.near_duplicates, options)
    return report


def near_duplicate_pairs(
    name: str, against: str, sources: DataSources, options: LoadOptions
) -> list[tuple[str, str, float]]:
    """(image of `name`, image of `against`, correlation) of their near-copies, both loaded as a run loads them."""
    from fsfer_bench.data.near_duplicates import cached_near_duplicates

    with warnings.catch_warnings():  # what loading warns about, the check reports itself
        warnings.simplefilter("ignore")
        pool, other = load_dataset(name, sources, options), load_dataset(against, sources, options)
    return cached_near_duplicates(pool, other, options.face_align).named(pool, other)


def _near_duplicate_findings(against: str, pairs: list[tuple[str, str, float]], options: LoadOptions) -> list[Finding]:
    from fsfer_bench.data.near_duplicates import describe, threshold_for

    if not pairs:
        return []
    strict, threshold = options.strict, threshold_for(options.face_align)
    effect = "a run training on one and testing on the other " + ("refuses (--strict)" if strict else "drops them")
    return [
        Finding(
            FATAL if strict else WARNING,
            f"near-copies in {against}",
            f"{len(pairs)} pair(s) with thumbnail correlation >= {threshold}; {effect}: {describe(pairs)}",
        )
    ]


def _check_listing(name: str, layout: str, listing: Listing, strict: bool, workers: int | None) -> CheckReport:
    items = listing.items
    jobs = [DecodeJob(str(i.path), 0, pixels=i.pixels) for i in items]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results, _ = run_jobs(_inspect, jobs, workers=workers) if jobs else ([], None)
    good = [k for k, r in enumerate(results) if r[0] == "ok"]
    report = _counts(
        name,
        listing.folder,
        layout,
        listing.class_list(),
        [items[k].label for k in good],
        [items[k].subject for k in good],
    )
    report.modes = dict(Counter(results[k][2] for k in good).most_common())
    report.sizes = dict(Counter(results[k][3] for k in good).most_common())
    bad = [f"{listing.file(items[k])} ({r[1]})" for k, r in enumerate(results) if r[0] != "ok"]
    if bad:
        report.findings.append(
            Finding(
                FATAL if strict else WARNING,
                "unreadable or truncated files",
                f"{len(bad)} file(s), skipped by a load: {_some(bad)}",
            )
        )
    report.findings += _problem_findings(listing.problems, strict)
    if listing.empty_classes():
        message = f"no images of {_some(listing.empty_classes(), 8)}; a load leaves them out"
        report.findings.append(Finding(WARNING, "empty class", message))
    report.findings += _duplicate_findings(listing, good, [results[k][1] for k in good], strict, report)
    report.findings += _size_findings(listing, good, [results[k][3] for k in good])
    return report


def _size_findings(listing: Listing, good: list[int], sizes: list[str]) -> list[Finding]:
    """Images too small, or too long for their width, to hold a face once squared and resized."""
    odd = []
    for k, size in zip(good, sizes):
        width, height = (int(x) for x in size.split("x"))
        if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
            odd.append(f"{listing.file(listing.items[k])} ({size})")
    if not odd:
        return []
    message = (
        f"{len(odd)} image(s) under {MIN_SIDE} px a side or longer than {MAX_ASPECT:g}:1; a load squares and "
        f"resizes them, leaving little or no face: {_some(odd)}"
    )
    return [Finding(WARNING, "odd image sizes", message)]


def _inspect(job: DecodeJob) -> tuple[str, str, str, str]:
    """("ok", content hash, mode, size) or ("bad", why, "", ""): read, hash and fully decode one image.

    Read through `read_capped`, as a load reads it: a regular file of bounded size.
    """
    try:
        if job.pixels is not None:
            digest = hashlib.blake2b(job.pixels.tobytes(), digest_size=16).hexdigest()
        else:
            digest = hashlib.blake2b(read_capped(job.path, MAX_IMAGE_BYTES), digest_size=16).hexdigest()
        img = open_job(job)
        return "ok", digest, img.mode, f"{img.size[0]}x{img.size[1]}"
    except Exception as exc:  # PIL raises many types for broken files
        return "bad", f"{type(exc).__name__}: {exc}", "", ""


def _counts(
    name: str, folder: Path | None, layout: str, classes: tuple[str, ...], labels: list[str], subjects: list[str]
) -> CheckReport:
    counts = Counter(labels)
    people: dict[str, set[str]] = defaultdict(set)
    for label, subject in zip(labels, subjects):
        if subject != UNKNOWN_SUBJECT:
            people[label].add(subject)
    return CheckReport(
        name=name,
        folder=folder,
        layout=layout,
        classes=tuple(classes),
        class_counts={c: counts.get(c, 0) for c in classes},
        class_subjects={c: len(people[c]) for c in classes},
        subject_counts=dict(sorted(Counter(s for s in subjects if s != UNKNOWN_SUBJECT).items())),
        labels=list(labels),
        subjects=list(subjects),
    )


def _problem_findings(problems: list[Problem], strict: bool) -> list[Finding]:
    by_kind: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_kind[p.kind].append(p)
    out = []
    for kind, group in by_kind.items():
        fatal = strict or any(p.fatal for p in group)
        effect = "a load fails" if fatal else "skipped by a load"
        out.append(
            Finding(
                FATAL if fatal or kind in CHECK_ERRORS else WARNING,
                kind,
                f"{len(group)} entr{'y' if len(group) == 1 else 'ies'}, {effect}: {_some([str(p) for p in group], 3)}",
            )
        )
    return out


def _duplicate_findings(
    listing: Listing, good: list[int], digests: list[str], strict: bool, report: CheckReport
) -> list[Finding]:
    """Groups of byte-identical files: every group in `report.duplicate_groups`, a few in each finding's line."""
    groups: dict[str, list[int]] = defaultdict(list)
    for k, digest in zip(good, digests):
        groups[digest].append(k)
    same, conflicting = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        names = [f"{listing.file(listing.items[k])} ({listing.items[k].label})" for k in members]
        report.duplicate_groups.append(names)
        (conflicting if len({listing.items[k].label for k in members}) > 1 else same).append(names)
    out = []
    if conflicting:
        out.append(
            Finding(
                FATAL if strict else WARNING,
                "duplicates with conflicting labels",
                f"{len(conflicting)} group(s) of byte-identical files ({_files(conflicting)}) under different labels: "
                f"{_some_groups(conflicting)}",
            )
        )
    if same:
        out.append(
            Finding(
                WARNING,
                "byte-identical duplicates",
                f"{len(same)} group(s) ({_files(same)}); a duplicate may land in both support and query: "
                f"{_some_groups(same)}",
            )
        )
    return out


def _files(groups: list[list[str]]) -> str:
    return f"{sum(len(g) for g in groups)} files"


def _some_groups(groups: list[list[str]], n: int = 3, members: int = 3) -> str:
    """A few groups, a few files each: one line however many files are alike (all of them: --list-duplicates)."""
    shown = [
        " = ".join(g[:members]) + (f" = ... ({len(g) - members} more)" if len(g) > members else "") for g in groups
    ]
    cut = len(groups) > n or any(len(g) > members for g in groups)
    return _some(shown, n) + ("; --list-duplicates FILE lists every file" if cut else "")


def _episode_findings(report: CheckReport, way: int | None, shot: int | None, query: int | None) -> list[Finding]:
    """Whether episodes of this shape can be drawn, as the sampler would draw them.

    Unset numbers take `EpisodeSpec`'s defaults, as a run would. Classes too
    small for shot + query are named one by one; past that, the sampler itself
    tries `EPISODES_CHECKED` episodes, which catches subject-disjointness that
    the people in the dataset cannot satisfy.
    """
    if way is None and shot is None and query is None:
        return []
    given = {"way": way, "shot": shot, "query": query}
    spec = EpisodeSpec(**{k: v for k, v in given.items() if v is not None}, episodes=EPISODES_CHECKED)
    need, shape = spec.shot + spec.query, f"{spec.shot}-shot with {spec.query} queries"
    out = [
        Finding(FATAL, "class too small", f"class '{c}' has {n} image(s); {shape} needs {need}")
        for c, n in report.class_counts.items()
        if n < need
    ]
    usable = sum(n >= need for n in report.class_counts.values())
    if usable < spec.way:
        out.append(
            Finding(FATAL, "too few classes", f"{usable} class(es) can fill {shape}; --way {spec.way} needs {spec.way}")
        )
    if out or not report.labels:
        return out
    pool = make_dataset(
        report.name,
        np.zeros((len(report.labels), 1, 1, 3), np.uint8),
        report.labels,
        subjects=report.subjects,
        classes=report.classes,
    )
    try:
        sample_episodes(pool, spec)
    except EpisodeError as exc:
        out.append(Finding(FATAL, "episodes cannot be drawn", f"{exc} (tried {EPISODES_CHECKED} episodes)"))
    return out


def format_report(report: CheckReport) -> str:
    """The report as text: a class table, subjects, image modes, and one line per finding."""
    subjects = len(report.subject_counts)
    lines = [
        f"{report.name}: {report.images} images, {len(report.classes)} classes"
        + (f", {subjects} subjects" if subjects else ", no subject ids")
    ]
    if report.folder is not None:
        lines += [f"  folder: {report.folder}", f"  layout: {report.layout}"]
    lines.append("")
    width = max([len("class"), *(len(c) for c in report.classes)])
    lines.append(f"{'class':<{width}}  {'images':>6}  {'subjects':>8}")
    for c in report.classes:
        people = report.class_subjects.get(c, 0)
        lines.append(f"{c:<{width}}  {report.class_counts[c]:>6}  {people if subjects else '-':>8}")
    lines.append(f"{'total':<{width}}  {report.images:>6}  {subjects if subjects else '-':>8}")
    if subjects:
        n = np.array(list(report.subject_counts.values()))
        lines += ["", f"per subject ({subjects}): min {n.min()}, median {int(np.median(n))}, max {n.max()} images"]
        cells = [f"{s}: {k}" for s, k in report.subject_counts.items()]
        lines += ["  " + "  ".join(cells[i : i + 8]) for i in range(0, len(cells), 8)]
    if report.modes:
        lines += [
            "",
            "image modes: "
            + ", ".join(f"{m} {k}" for m, k in report.modes.items())
            + "; sizes: "
            + ", ".join(f"{s} {k}" for s, k in list(report.sizes.items())[:4])
            + (" ..." if len(report.sizes) > 4 else ""),
        ]
    lines.append("")
    if report.findings:
        lines.append("problems:")
        lines += [f"  {f.severity.upper():<7}  {f.kind}: {f.message}" for f in report.findings]
    fatal = sum(f.severity == FATAL for f in report.findings)
    warned = len(report.findings) - fatal
    lines.append(f"result: {'FAILED' if fatal else 'OK'} ({fatal} fatal, {warned} warning(s))")
    return "\n".join(lines)


def _some(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" ... ({len(names) - n} more)" if len(names) > n else "")
