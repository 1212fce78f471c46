"""Line datasets: synthetic, a folder with ``labels.tsv``, and STR-standard LMDB.

Every item is a :class:`Sample` ``(image, text, key)``: ``image`` a PIL RGB image, or the
tensor (1, H, w) that ``transform`` (a :class:`~ocrlab.data.transforms.LineTransform`) made of
it. Labels are validated when a dataset is opened (empty labels, out-of-charset characters,
malformed lines, missing files), so a bad file fails before training starts, with its file and
line or key; images are decoded lazily in ``__getitem__``.

``skip_bad=True`` turns bad samples into counted skips: bad labels are left out of the index
(``.skipped``, ``.report()``), unreadable images make ``__getitem__`` return ``None``, which
:class:`~ocrlab.data.transforms.Collate` drops and counts in ``Batch.skipped`` (counts made in
``DataLoader`` worker processes stay in those processes; the batch count is the reliable one).
"""

from __future__ import annotations

import bisect
import contextlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import torch
from torch.utils.data import ConcatDataset as _TorchConcatDataset
from torch.utils.data import Dataset

from ..errors import CharsetError, DataError, SkipSample
from .image import load_image
from .synth import Renderer, sample_text, synth_sample
from .text import WordfreqText

_POLICIES = ("error", "skip", "replace")


@dataclass
class Sample:
    """One line: ``image`` (PIL RGB, or a (1, H, w) float tensor after a transform), its label
    ``text`` and a ``key`` that says where it came from (file, LMDB key or synthetic index)."""

    image: Any
    text: str
    key: str


class LineDataset(Dataset):
    """Shared machinery: label checks against an optional charset, skip counting, transform."""

    name: str = "dataset"

    def __init__(
        self,
        *,
        charset: Any = None,
        policy: str = "error",
        skip_bad: bool = False,
        skip_empty: bool = False,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if policy not in _POLICIES:
            raise ValueError(f"policy must be one of {_POLICIES}, got {policy!r}")
        self.charset = charset
        self.policy = policy
        self.skip_bad = skip_bad
        # skip (and count) samples whose label is empty, the convention of scene-text
        # benchmarks (a lowercased alphanumeric label file can empty a label of symbols)
        self.skip_empty = skip_empty
        self.transform = transform
        self.skipped: Counter[str] = Counter()

    def _check_label(self, text: str, where: str) -> bool:
        """True if the sample ``where`` with label ``text`` is kept; raises or counts if not."""
        if not text.strip():
            if self.skip_bad or self.skip_empty:
                self.skipped["empty label"] += 1
                return False
            raise DataError(
                f"{where}: empty label (skip_empty=True, or `ocrlab eval`, skips and counts them)"
            )
        if self.charset is not None and self.policy != "replace":
            try:
                self.charset.encode(text, sample=where, policy=self.policy)
            except SkipSample:
                self.skipped["out-of-charset label"] += 1
                return False
            except CharsetError:
                if self.skip_bad:
                    self.skipped["out-of-charset label"] += 1
                    return False
                raise
        return True

    def _bad_image(self, exc: DataError) -> None:
        if not self.skip_bad:
            raise exc
        self.skipped["unreadable image"] += 1

    def _finish(self, image: Any, text: str, key: str) -> Sample:
        if self.transform is not None:
            image = self.transform(image)
        return Sample(image, text, key)

    def report(self) -> str:
        """One line: how many samples the dataset has and what was skipped, by reason."""
        head = f"{self.name}: {len(self)} samples"
        if not self.skipped:
            return head
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return f"{head}; skipped {sum(self.skipped.values())} ({reasons})"


class SyntheticLines(LineDataset):
    """``n`` rendered lines; item ``i`` is always the same image for the same ``seed``.

    ``text``: a text source with ``.sample(i) -> str`` (default ``WordfreqText(seed=seed)``);
    ``words``: a words-only text source for the renderer's word crops (default: the words-only
    ``WordfreqText`` when ``text`` is the default too, else none — word crops then crop a line);
    ``renderer``: a :class:`~ocrlab.data.synth.Renderer` (default ``Renderer()``). All are
    built lazily so that creating the dataset is cheap and the parts import only when used.
    """

    def __init__(
        self,
        n: int,
        seed: int = 0,
        text: Any = None,
        renderer: Any = None,
        transform: Callable[[Any], Any] | None = None,
        words: Any = None,
    ) -> None:
        super().__init__(transform=transform)
        if n < 0:
            raise ValueError(f"SyntheticLines: n must be >= 0, got {n}")
        self.n = int(n)
        self.seed = int(seed)
        self.text = text
        self.words = words
        self.renderer = renderer
        self.name = f"synth(seed={self.seed})"

    def __len__(self) -> int:
        return self.n

    def _build(self) -> None:
        if self.text is None:
            self.text = WordfreqText(seed=self.seed)
            if self.words is None:
                self.words = WordfreqText(seed=self.seed, words_only=True)
        if self.renderer is None:
            self.renderer = Renderer()

    def render(self, index: int) -> Any:
        """The full :class:`~ocrlab.data.synth.RenderResult` of item ``index`` (char boxes,
        font, parameters), for notebooks that want more than the image."""
        self._build()
        return synth_sample(
            _check_index(index, self.n, self.name), self.seed, self.text, self.renderer, self.words
        )

    def text_at(self, index: int) -> str:
        """Item ``index``'s label without rendering it."""
        self._build()
        index = _check_index(index, self.n, self.name)
        return sample_text(index, self.seed, self.text, self.renderer, self.words)[0]

    def __getitem__(self, index: int) -> Sample:
        index = _check_index(index, self.n, self.name)
        result = self.render(index)
        return self._finish(result.image, result.text, f"synth-s{self.seed}-{index:09d}")


@dataclass(frozen=True)
class FolderEntry:
    """One labelled line of a ``labels.tsv``: the image path, its label and the line number."""

    path: Path
    text: str
    line: int
    rel: str


class FolderDataset(LineDataset):
    """Images in a folder listed by a UTF-8 ``labels.tsv`` of ``relative/path<TAB>text`` lines.

    Paths are relative to ``root`` (absolute paths are allowed). Blank lines and lines starting
    with ``#`` are ignored; there is no header; the label is everything after the first tab
    (line ending removed, spaces kept). A UTF-8 byte-order mark is accepted.

    Errors (``DataError`` naming ``labels.tsv:LINE``): a line without a tab, an image path that
    does not exist, an empty label, a label outside ``charset`` (``policy="error"``); with
    ``skip_bad=True`` these lines are skipped and counted instead (``policy="skip"`` skips
    out-of-charset labels whatever ``skip_bad`` says). A corrupt image raises in
    ``__getitem__`` naming the path, or returns ``None`` with ``skip_bad=True``.
    The sample key is the path as written in ``labels.tsv``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        labels: str | os.PathLike = "labels.tsv",
        *,
        charset: Any = None,
        policy: str = "error",
        skip_bad: bool = False,
        skip_empty: bool = False,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(
            charset=charset,
            policy=policy,
            skip_bad=skip_bad,
            skip_empty=skip_empty,
            transform=transform,
        )
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found")
        self.labels_path = self.root / labels
        self.name = self.root.name or str(self.root)
        self.entries: list[FolderEntry] = self._read_labels()
        if not self.entries:
            raise DataError(f"{self.labels_path}: no usable samples ({self.report()})")

    def _read_labels(self) -> list[FolderEntry]:
        lp = self.labels_path
        if not lp.is_file():
            raise DataError(f"{lp}: labels file not found (expected lines 'path<TAB>text')")
        try:
            raw = lp.read_bytes()
        except OSError as exc:
            raise DataError(f"{lp}: cannot read labels file ({exc})") from exc
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        entries: list[FolderEntry] = []
        for lineno, bline in enumerate(raw.split(b"\n"), start=1):
            where = f"{lp}:{lineno}"
            try:
                line = bline.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
                ) from exc
            line = line.removesuffix("\r")
            if not line.strip() or line.startswith("#"):
                continue
            if "\t" not in line:
                if self.skip_bad:
                    self.skipped["malformed line"] += 1
                    continue
                raise DataError(f"{where}: no tab; expected 'relative/path<TAB>text', got {line!r}")
            rel, text = line.split("\t", 1)
            path = self.root / rel
            if not rel.strip() or not path.is_file():
                if self.skip_bad:
                    self.skipped["missing image"] += 1
                    continue
                raise DataError(f"{where}: image {rel!r} not found (looked for {path})")
            if self._check_label(text, f"{where} ({rel})"):
                entries.append(FolderEntry(path, text, lineno, rel))
        return entries

    def __len__(self) -> int:
        return len(self.entries)

    def text_at(self, index: int) -> str:
        """Item ``index``'s label without reading its image."""
        return self.entries[_check_index(index, len(self), self.name)].text

    def __getitem__(self, index: int) -> Sample | None:
        entry = self.entries[_check_index(index, len(self), self.name)]
        try:
            image = load_image(entry.path)
        except DataError as exc:
            self._bad_image(exc)
            return None
        return self._finish(image, entry.text, entry.rel)


class LmdbDataset(LineDataset):
    """An STR-standard LMDB: ``num-samples``, ``image-%09d`` (encoded image bytes) and
    ``label-%09d`` (UTF-8), numbered from 1. ``path`` is the LMDB directory (``x.lmdb/``
    holding ``data.mdb``) or a ``data.mdb`` file.

    All labels are read and checked when the dataset is opened (empty, undecodable, missing
    ``label-`` key, out-of-charset: ``DataError`` naming the key and the file, or counted skips
    with ``skip_bad=True``). The environment is opened read-only without locks, and re-opened
    lazily in every process, so the dataset is safe with ``DataLoader(num_workers>0)``.
    The sample key is the image key, e.g. ``image-000000001``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        charset: Any = None,
        policy: str = "error",
        skip_bad: bool = False,
        skip_empty: bool = False,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(
            charset=charset,
            policy=policy,
            skip_bad=skip_bad,
            skip_empty=skip_empty,
            transform=transform,
        )
        self.path = Path(path)
        self.name = self.path.name
        self._env_key = os.path.realpath(self.path)
        self.indices, self.labels = self._read_labels()

    def _read_labels(self) -> tuple[list[int], list[str]]:
        env, fresh = _lmdb_env(self.path)
        try:
            with env.begin(buffers=False) as txn:
                raw_n = txn.get(b"num-samples")
                if raw_n is None:
                    raise DataError(f"{self.path}: LMDB has no 'num-samples' key (not STR format)")
                try:
                    n = int(raw_n.decode("ascii").strip())
                    if n < 0:
                        raise ValueError
                except (UnicodeDecodeError, ValueError):
                    raise DataError(
                        f"{self.path}: 'num-samples' is not a non-negative integer: {raw_n[:40]!r}"
                    ) from None
                indices: list[int] = []
                labels: list[str] = []
                for i in range(1, n + 1):
                    key = f"label-{i:09d}"
                    where = f"{self.path}:{key}"
                    raw = txn.get(key.encode())
                    if raw is None:
                        if self.skip_bad:
                            self.skipped["missing label key"] += 1
                            continue
                        raise DataError(f"{where}: key missing (num-samples is {n})")
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        if self.skip_bad:
                            self.skipped["undecodable label"] += 1
                            continue
                        raise DataError(
                            f"{where}: label is not valid UTF-8 ({exc.reason})"
                        ) from exc
                    if self._check_label(text, where):
                        indices.append(i)
                        labels.append(text)
        finally:
            if fresh:  # only __getitem__ keeps a handle open, so opening a dataset holds no files
                _close_lmdb_env(self.path)
        return indices, labels

    def __len__(self) -> int:
        return len(self.indices)

    def text_at(self, index: int) -> str:
        """Item ``index``'s label without reading its image."""
        return self.labels[_check_index(index, len(self), self.name)]

    def __getitem__(self, index: int) -> Sample | None:
        index = _check_index(index, len(self), self.name)
        i, text = self.indices[index], self.labels[index]
        key = f"image-{i:09d}"
        cached = _LMDB_ENVS.get(self._env_key)
        if cached is not None and cached[0] == os.getpid():
            env = cached[2]  # per-sample fast path: no file-system checks
        else:
            env, _ = _lmdb_env(self.path)
        with env.begin(buffers=False) as txn:
            data = txn.get(key.encode())
        where = f"{self.path}:{key}"
        if data is None:
            self._bad_image(DataError(f"{where}: key missing (label is {text!r})"))
            return None
        try:
            image = load_image(data, name=where)
        except DataError as exc:
            self._bad_image(exc)
            return None
        return self._finish(image, text, key)

    def close(self) -> None:
        """Close this process's read handle on the LMDB (re-opened on the next read)."""
        _close_lmdb_env(self.path)


# One read-only handle per LMDB per process: py-lmdb refuses to open the same files twice in a
# process, and a handle must not be used across fork(), so DataLoader workers open their own.
# Keyed by resolved path; entries remember the pid and the data file's identity, so a handle
# inherited from the parent, or one on files that were since replaced, is closed and re-opened.
_LMDB_ENVS: dict[str, tuple[int, tuple[int, int], Any]] = {}


def _lmdb_env(path: Path) -> tuple[Any, bool]:
    """This process's read-only environment for ``path`` and whether it was just opened."""
    if not path.exists():
        raise DataError(f"{path}: LMDB not found")
    subdir = path.is_dir()
    data_file = path / "data.mdb" if subdir else path
    if not data_file.is_file():
        raise DataError(f"{path}: not an LMDB (no data.mdb in the directory)")
    st = data_file.stat()
    ident = (st.st_dev, st.st_ino)
    key = os.path.realpath(path)
    cached = _LMDB_ENVS.get(key)
    if cached is not None:
        if cached[0] == os.getpid() and cached[1] == ident:
            return cached[2], False
        _close_lmdb_env(path)
    try:
        env = lmdb.open(
            str(path),
            subdir=subdir,
            readonly=True,
            lock=False,
            readahead=False,
            meminit=False,
            max_readers=128,
        )
    except lmdb.Error as exc:
        raise DataError(f"{path}: not a readable LMDB ({exc})") from exc
    _LMDB_ENVS[key] = (os.getpid(), ident, env)
    return env, True


def _close_lmdb_env(path: Path) -> None:
    cached = _LMDB_ENVS.pop(os.path.realpath(path), None)
    if cached is not None:
        # In a forked child this unmaps only the child's copy; lock=False means no lock table.
        with contextlib.suppress(Exception):
            cached[2].close()


class ConcatDataset(_TorchConcatDataset):
    """``torch.utils.data.ConcatDataset`` whose sample keys start with ``<dataset name>:`` so a
    key says which dataset it came from (names made unique with ``#k`` when they repeat)."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        super().__init__(datasets)
        names = [getattr(d, "name", type(d).__name__) for d in self.datasets]
        counts = Counter(names)
        self.names = [f"{n}#{k}" if counts[n] > 1 else n for k, n in enumerate(names)]
        self.name = "+".join(self.names)

    def __getitem__(self, index: int) -> Sample | None:
        if index < 0:
            index += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        sample = self.datasets[d][index - start]
        if sample is None:
            return None
        return Sample(sample.image, sample.text, f"{self.names[d]}:{sample.key}")

    def text_at(self, index: int) -> str:
        """Item ``index``'s label without reading or rendering its image."""
        if index < 0:
            index += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d].text_at(index - start)

    @property
    def skipped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for d in self.datasets:
            total.update(getattr(d, "skipped", Counter()))
        return total

    def report(self) -> str:
        return "\n".join(
            d.report() if hasattr(d, "report") else f"{n}: {len(d)} samples"
            for n, d in zip(self.names, self.datasets, strict=True)
        )


def concat(*datasets: Dataset) -> ConcatDataset:
    """Concatenate datasets; keys become ``<dataset name>:<key>``."""
    return ConcatDataset(datasets)


def _check_index(index: int, n: int, name: str) -> int:
    if isinstance(index, torch.Tensor):
        index = int(index)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise IndexError(f"{name}: index {index} out of range for {n} samples")
    return index
