"""The documentation runs: README.md and docs/*.md.

Every ```python block is executed, one test per block (`README.md:3` is the
third block of the README). The blocks of one file share a namespace and run
in the file's order, like the cells of a notebook; a block whose file has an
earlier block not yet run (e.g. under `-k`) runs those first. Every file starts
from `keras.utils.set_random_seed(0)`. A file may
start with a hidden set-up block, `<!-- setup: ... -->`, run before its
first block. Every file runs in its own temporary directory, with the
library's caches (latency tables, zoo downloads) in another, so nothing is
written into the repository or the user's cache.

The shell blocks (```bash, ```sh) are not run: every `dais ...` command in
them must parse with the `dais` parser, and every repository path they name
(`configs/...`, `bench/...`) must exist. Relative links must resolve.

`test_readme_does_what_it_says` checks what the README's code promises:
both models pruned to the budget, both exported, both faster.
"""

import contextlib
import itertools
import os
import pathlib
import re
import shlex
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150
GUIDES = [
    "README.md", "prune-your-model.md", "latency-budgets.md", "custom-layers.md",
    "zoo.md", "export.md", "backends.md", "benchmarks.md",
]

_BLOCK = re.compile(
    r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$"
    r"|<!--[ \t]*setup:(?P<setup>.*?)-->",
    re.S | re.M,
)
_SHELL = ("bash", "sh", "shell", "console")
_REPO_PATH = re.compile(r"(?<![\w/.-])((?:configs|bench|docs|zoo|scripts|tests|dais_keras)/[\w./{},*@-]*)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _blocks(path, kinds):
    """`(lang, code, line)` of the blocks of `path` whose language is in
    `kinds` ("setup" for the hidden set-up comments), in order."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        lang = "setup" if m.group("setup") is not None else m.group("lang").lower()
        if lang in kinds:
            code = m.group("setup") if lang == "setup" else m.group("code")
            out.append((lang, code, text.count("\n", 0, m.start()) + 1))
    return out


def _python_blocks(path):
    return _blocks(path, ("python", "setup"))


_CASES = [
    pytest.param(path, k, id=f"{_rel(path)}:{k + 1}")
    for path in DOC_FILES
    for k in range(len(_python_blocks(path)))
]


@pytest.fixture(scope="module")
def doc_env(tmp_path_factory):
    """One namespace and working directory per file; caches in a temporary
    directory for the whole module."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the documentation's examples export to TFLite: KERAS_BACKEND=tensorflow")
    cache = tmp_path_factory.mktemp("dais_cache")
    saved = {k: os.environ.get(k) for k in ("DAIS_KERAS_CACHE", "MPLBACKEND")}
    os.environ["DAIS_KERAS_CACHE"] = str(cache)
    os.environ["MPLBACKEND"] = "Agg"
    states = {}

    def state(path):
        if path not in states:
            states[path] = types.SimpleNamespace(
                namespace={"__name__": f"docs_{path.stem}"}, done=0, failed=None,
                cwd=tmp_path_factory.mktemp(path.stem.replace("-", "_")),
            )
        return states[path]

    yield state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def _chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _run_through(doc_env, path, index):
    """Runs the blocks of `path` up to block `index` (those not run yet)."""
    st = doc_env(path)
    blocks = _python_blocks(path)
    while st.done <= index:
        if st.failed is not None:
            pytest.fail(f"an earlier block of {_rel(path)} failed ({st.failed}); this one "
                        "needs its namespace", pytrace=False)
        lang, code, line = blocks[st.done]
        name = f"{_rel(path)}:{st.done + 1} (line {line})"
        if st.done == 0:
            # Every file starts from the same random state, whatever ran
            # before it in this process: random weights stay the same ones.
            import keras

            keras.utils.set_random_seed(0)
        try:
            with _chdir(st.cwd):
                exec(compile(code, name, "exec"), st.namespace)
        except BaseException:
            st.failed = name
            raise
        st.done += 1
    return st


@pytest.mark.parametrize("path, index", _CASES)
def test_python_block_runs(doc_env, path, index):
    _run_through(doc_env, path, index)


def test_readme_does_what_it_says(doc_env):
    """The README prunes a hand-written residual CNN and a MobileNetV2 to
    half their MACs, exports both to TFLite, and both run faster."""
    import dais_keras as dk

    st = _run_through(doc_env, README, len(_python_blocks(README)) - 1)
    ns = st.namespace
    for original, pruned in (("model", "pruned"), ("mobilenet", "pruned_mobilenet")):
        before, after = dk.count_macs(ns[original]), dk.count_macs(ns[pruned])
        assert after <= 0.5 * before, (original, after / before)
        assert after >= 0.4 * before, (original, after / before)  # the budget is used
    for name in ("residual_cnn.tflite", "mobilenet_v2.tflite"):
        assert (st.cwd / name).stat().st_size > 0
    # Latency at batch 1 (TFLite, one thread), each pair timed in turns.
    assert ns["ms_pruned"] < ns["ms_model"], (ns["ms_model"], ns["ms_pruned"])
    assert ns["ms_pruned_mobilenet"] < ns["ms_mobilenet"], (
        ns["ms_mobilenet"], ns["ms_pruned_mobilenet"])


def test_readme_is_short_and_guides_exist():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"
    names = {p.name for p in DOC_FILES[1:]}
    assert set(GUIDES[1:]) <= names and "README.md" in names, sorted(names)


def _shell_commands(path):
    """`(line, tokens)` of every command line in the shell blocks of `path`."""
    for _, code, line in _blocks(path, _SHELL):
        joined = re.sub(r"\\\n", " ", code)
        for offset, text in enumerate(joined.splitlines()):
            text = text.strip().removeprefix("$ ")
            if not text or text.startswith("#"):
                continue
            for command in re.split(r"\s*(?:&&|\|\||;|\|)\s*", text):
                tokens = shlex.split(command, comments=True)
                tokens = list(itertools.dropwhile(lambda t: re.match(r"^\w+=", t), tokens))
                if tokens:
                    yield line + 1 + offset, tokens  # `line` is the fence's


def _shell_files():
    return [p for p in DOC_FILES if _blocks(p, _SHELL)]


@pytest.mark.parametrize("path", _shell_files(), ids=_rel)
def test_shell_blocks_name_real_commands_and_paths(path):
    from dais_keras.cli import build_parser

    parser = build_parser()
    problems = []
    for line, tokens in _shell_commands(path):
        if tokens[0] == "dais":
            try:
                parser.parse_args(tokens[1:])
            except SystemExit as e:
                if e.code not in (0, None):
                    problems.append(f"line {line}: `{' '.join(tokens)}` does not parse")
        for token in tokens:
            for found in _REPO_PATH.findall(token.split("=", 1)[-1]):
                for candidate in _expand_braces(found.rstrip(".,")):
                    if not any(ROOT.glob(candidate)):
                        problems.append(f"line {line}: no such path {candidate}")
    assert not problems, "\n".join(problems)


def _expand_braces(text):
    m = re.search(r"\{([^{}]*)\}", text)
    if m is None:
        return [text]
    return [x for part in m.group(1).split(",")
            for x in _expand_braces(text[:m.start()] + part + text[m.end():])]


@pytest.mark.parametrize("path", DOC_FILES, ids=_rel)
def test_relative_links_resolve(path):
    text = path.read_text(encoding="utf-8")
    missing = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#")[0]).exists():
            missing.append(target)
    assert not missing, f"{_rel(path)} links to missing files: {missing}"
