"""The run configuration: typed values, defaults, includes, and one clear line for every kind of bad file.

tests/bad_configs/ holds one broken config per kind of mistake. Each starts with three comment lines:
    # broken: what is wrong with it
    # expect: how the error must begin, after "<file>: " (the key path, then the problem)
    # fix:    words that must appear in it, saying what is allowed or how to fix it
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lpz.config import load_config
from lpz.config.grid import Grid
from lpz.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "bad_configs"
CORPUS = sorted(BAD.glob("*.yml"))

# The kinds of mistake the corpus must keep covering (file stems).
REQUIRED_KINDS = {
    "unknown_section", "unknown_nested_key", "string_for_int", "float_for_int", "negative_batch_size",
    "probability_above_one", "unknown_loss", "unknown_network", "unknown_dataset", "tournament_too_large",
    "too_many_replacements", "mlp2d_on_mnist", "perceptron_on_gaussian8", "yaml_syntax_error", "top_level_list",
    "missing_network", "empty", "include_missing", "keep_one_generation", "hidden_size_not_mlp2d", "bad_run_name",
    "critic_steps_zero", "weight_clip_zero", "critic_steps_without_wgan", "unknown_optimizer",
}

MINIMAL = """
dataloader:
  dataset_name: gaussian8
network:
  name: mlp2d
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def header(path: Path) -> dict:
    """The '# broken:', '# expect:' and '# fix:' lines of a corpus file."""
    fields = {}
    for line in path.read_text().splitlines():
        if line.startswith("# ") and ":" in line:
            name, _, value = line[2:].partition(":")
            fields.setdefault(name.strip(), value.strip())
    return fields


def config_error(path: Path, overrides: dict | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value


# ---------------------------------------------------------------- good files

def test_quickstart_gives_its_typed_values():
    config = load_config(ROOT / "configs" / "quickstart.yml")
    assert config.name == "quickstart"
    assert config.trainer.generations == 15 and type(config.trainer.generations) is int
    params = config.trainer.params
    assert (params.population_size, params.tournament_size) == (1, 2)
    assert params.default_adam_learning_rate == 0.001 and type(params.default_adam_learning_rate) is float
    assert params.mixture_sigma == 0.05
    assert params.fitness.fitness_sample_size == 500
    assert (config.rows, config.cols) == (2, 2)
    assert (config.dataloader.dataset_name, config.dataloader.batch_size, config.dataloader.n_batches) == \
        ("gaussian8", 128, 200)
    assert (config.network.name, config.network.loss) == ("mlp2d", "bce")
    assert (config.score.score_sample_size, config.score.final_sample_size) == (2500, 10_000)
    assert config.general.seed == 0


def test_quickstart_gets_the_defaults_it_does_not_set():
    config = load_config(ROOT / "configs" / "quickstart.yml")
    params = config.trainer.params
    assert params.n_replacements == 1
    assert params.alpha == 0.0001
    assert params.mutation_probability == 0.5
    assert params.discriminator_skip_each_nth_step == 0
    assert params.enable_selection is True
    assert params.replacement == "always"
    assert params.fitness.fitness_mode == "average"
    assert config.grid.cols is None and config.grid.neighbourhood == "von_neumann"
    assert config.dataloader.sampling_ratio == 1.0
    assert config.network.latent_size is None and config.network.mustangs_mode == "generation"
    assert config.score.type == "fid"
    assert (config.general.store, config.general.threads, config.general.keep_generations) == (None, 1, 2)


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    # Plain YAML 1.1 reads 2e-4 as the string "2e-4"; lpz must read it as a float.
    path = write(tmp_path / "exp.yml", MINIMAL + """
trainer:
  params:
    default_adam_learning_rate: 2e-4
    alpha: 1E-5
    mixture_sigma: 5.0e-3
    mutation_probability: +1e-1
""")
    params = load_config(path).trainer.params
    assert params.default_adam_learning_rate == pytest.approx(2e-4)
    assert params.alpha == pytest.approx(1e-5)
    assert params.mixture_sigma == pytest.approx(5e-3)
    assert params.mutation_probability == pytest.approx(0.1)


def test_an_include_supplies_what_the_including_file_leaves_out(tmp_path):
    write(tmp_path / "base.yml", MINIMAL + """
trainer:
  generations: 7
  params:
    population_size: 2
    tournament_size: 3
""")
    path = write(tmp_path / "exp.yml", """
include: base.yml
trainer:
  params:
    tournament_size: 4
""")
    config = load_config(path)
    assert config.trainer.generations == 7                # from the base
    assert config.trainer.params.population_size == 2     # from the base, beside a key the top file sets
    assert config.trainer.params.tournament_size == 4     # the including file wins, key by key
    assert config.dataloader.dataset_name == "gaussian8"


def test_a_list_of_includes_merges_in_order_and_the_including_file_wins(tmp_path):
    write(tmp_path / "first.yml", MINIMAL + """
trainer: {generations: 1}
grid: {rows: 3}
general: {seed: 1}
""")
    write(tmp_path / "second.yml", """
grid: {rows: 4}
general: {seed: 2}
""")
    path = write(tmp_path / "exp.yml", """
include: [first.yml, second.yml]
general: {seed: 3}
""")
    config = load_config(path)
    assert config.trainer.generations == 1   # only the first sets it
    assert config.grid.rows == 4             # the second overrides the first
    assert config.general.seed == 3          # the including file overrides both


def test_include_paths_are_relative_to_the_file_that_names_them(tmp_path, monkeypatch):
    write(tmp_path / "common" / "defaults.yml", MINIMAL + "general: {seed: 11}\n")
    write(tmp_path / "common" / "base.yml", "include: defaults.yml\ntrainer: {generations: 5}\n")
    path = write(tmp_path / "experiments" / "exp.yml", "include: ../common/base.yml\ngrid: {rows: 3}\n")
    monkeypatch.chdir(write(tmp_path / "elsewhere" / "x", "").parent)
    config = load_config(path)
    assert (config.general.seed, config.trainer.generations, config.grid.rows) == (11, 5, 3)


def test_a_cycle_of_includes_is_reported_with_its_files(tmp_path):
    write(tmp_path / "a.yml", "include: b.yml\n" + MINIMAL)
    write(tmp_path / "b.yml", "include: a.yml\n")
    error = config_error(tmp_path / "a.yml")
    assert error.key == "include"
    assert error.source == str(tmp_path / "b.yml")
    assert f"{tmp_path / 'a.yml'} -> {tmp_path / 'b.yml'} -> {tmp_path / 'a.yml'}" in str(error)


def test_an_included_file_is_read_once_per_include_not_taken_for_a_cycle(tmp_path):
    # A diamond (both bases include the same defaults) is not a cycle.
    write(tmp_path / "defaults.yml", MINIMAL)
    write(tmp_path / "left.yml", "include: defaults.yml\ngrid: {rows: 3}\n")
    write(tmp_path / "right.yml", "include: defaults.yml\ngeneral: {seed: 4}\n")
    config = load_config(write(tmp_path / "exp.yml", "include: [left.yml, right.yml]\n"))
    assert (config.grid.rows, config.general.seed) == (3, 4)


def test_an_error_in_an_included_file_names_that_file(tmp_path):
    write(tmp_path / "base.yml", MINIMAL + "trainer:\n  params:\n    tournamet_size: 2\n")
    error = config_error(write(tmp_path / "exp.yml", "include: base.yml\ngrid: {rows: 3}\n"))
    assert str(error).startswith(f"{tmp_path / 'base.yml'}: trainer.params.tournamet_size: unknown key")


SECRET = "sk-SECRET-8f3a9c2e71d54b6a0c"


@pytest.mark.parametrize("included, where, problem", [
    (f"dataloader:\n  dataset_name: {SECRET}\nnetwork:\n  name: mlp2d\n", "dataloader.dataset_name",
     "is not a dataset lpz knows"),
    (MINIMAL + f"trainer:\n  generations: {SECRET}\n", "trainer.generations", "is not a whole number"),
    (MINIMAL + f"trainer:\n  name: {SECRET}\n", "trainer.name", "is not allowed; use one of"),
    (f"name: {SECRET}/x\n" + MINIMAL, "name", "is not a valid run name"),
    (MINIMAL + f"score: {SECRET}\n", "score", "must be a section of keys"),
    (MINIMAL + f"general:\n  fused_cells: {SECRET}\n", "general.fused_cells", "is not a yes/no value"),
])
def test_an_error_about_an_included_file_s_value_never_quotes_it(tmp_path, included, where, problem):
    """An included file may hold a secret (a key, a token): its values are named by file and key path only."""
    write(tmp_path / "secrets.yml", included)
    message = str(config_error(write(tmp_path / "exp.yml", "include: secrets.yml\n")))
    assert message.startswith(f"{tmp_path / 'secrets.yml'}: {where}: ") and problem in message, message
    assert "the value (not quoted from an included file)" in message
    assert "SECRET" not in message and "8f3a9c" not in message and "sk-" not in message
    assert "sk-SECRET" in str(config_error(write(tmp_path / "exp.yml", included)))  # a file's own: quoted


def test_lpz_run_never_prints_an_included_file_s_secret(tmp_path):
    write(tmp_path / "secrets.yml", f"dataloader:\n  dataset_name: \"{SECRET}\"\n")
    write(tmp_path / "exp.yml", "include: secrets.yml\nnetwork:\n  name: mlp2d\n")
    lpz = Path(sys.executable).parent / "lpz"  # the console script, as a user runs it
    result = subprocess.run([str(lpz), "run", "exp.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr == (
        "error: secrets.yml: dataloader.dataset_name: the value (not quoted from an included file) is not a dataset "
        "lpz knows; use one of gaussian8, gaussian25, circular, gaussian, mnist, fashion-mnist, cifar10, celeba, "
        "imagefolder\n"), result.stderr
    assert not any(piece in result.stdout + result.stderr for piece in ("SECRET", "8f3a9c", "sk-"))


def test_yaml_anchors_aliases_and_merge_keys_still_load(tmp_path):
    path = write(tmp_path / "anchors.yml", """
dataloader:
  dataset_name: gaussian8
network:
  <<: {name: mlp2d, loss: bce}
  loss: mse
score:
  score_sample_size: &samples 300
trainer:
  params:
    fitness:
      fitness_sample_size: *samples
""")
    config = load_config(path)
    assert (config.network.name, config.network.loss) == ("mlp2d", "mse")
    assert config.trainer.params.fitness.fitness_sample_size == 300


def aliased(reuse_a: int, reuse_b: int) -> str:
    """A valid config whose network section merges two anchored mappings, then reuses them by alias:
    tiny as text, it expands to 9 + 3 * (1 + reuse_a) + 5 * (1 + reuse_b) values (mappings, lists and
    scalars, keys included)."""
    merged = ", ".join(["&a {name: mlp2d}", "&b {name: mlp2d, loss: bce}"] + ["*a"] * reuse_a + ["*b"] * reuse_b)
    return f"dataloader: {{dataset_name: gaussian8}}\nnetwork:\n  <<: [{merged}]\n"


def test_the_values_after_alias_expansion_are_bounded_at_ten_thousand(tmp_path):
    just_under = write(tmp_path / "under.yml", aliased(3326, 1))  # 9 + 3 * 3327 + 5 * 2 = 10,000 values
    assert load_config(just_under).network.name == "mlp2d"
    just_over = write(tmp_path / "over.yml", aliased(3328, 0))  # 9 + 3 * 3329 + 5 * 1 = 10,001 values
    assert "expands to more than 10,000 values" in str(config_error(just_over))
    assert just_over.stat().st_size < 20_000  # what is bounded is the expansion, not the file


def test_a_key_given_twice_inside_a_section_is_reported_with_its_lines(tmp_path):
    path = write(tmp_path / "twice.yml", """\
dataloader: {dataset_name: gaussian8}
network: {name: mlp2d}
trainer:
  params:
    alpha: 0.1
    alpha: 0.2
""")
    error = config_error(path)
    assert str(error) == (f"{path}: trainer.params.alpha: given twice (lines 5 and 6); "
                          f"YAML would keep only the last, so merge them into one")


def test_command_line_overrides_apply_and_are_blamed_for_their_errors(tmp_path):
    path = write(tmp_path / "exp.yml", MINIMAL)
    assert load_config(path, {"trainer.generations": 3}).trainer.generations == 3
    error = config_error(path, {"general.seed": -1})
    assert str(error).startswith("command line: general.seed: -1 is too small")


def test_a_missing_config_file_says_so():
    error = config_error(BAD / "no_such_config.yml")
    assert str(error).startswith(f"{BAD / 'no_such_config.yml'}: no such file; give the path of a YAML config")


# ---------------------------------------------------------------- the corpus of broken files

def test_the_corpus_covers_every_required_kind_and_documents_each_file():
    stems = {path.stem for path in CORPUS}
    assert REQUIRED_KINDS <= stems, f"missing kinds: {sorted(REQUIRED_KINDS - stems)}"
    assert len(CORPUS) >= 15
    for path in CORPUS:
        assert {"broken", "expect", "fix"} <= set(header(path)), f"{path.name} lacks its header lines"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_load_config_reports_one_line_naming_the_file_and_key_path(path):
    expected = header(path)
    message = str(config_error(path))
    assert "\n" not in message
    assert message.startswith(f"{path}: {expected['expect']}"), message
    assert expected["fix"] in message, message


def _console_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `lpz ARGS` as a fresh process, exactly as the `lpz` console script does."""
    return subprocess.run([sys.executable, "-c", "import sys; from lpz.cli import entry; sys.exit(entry())", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


# Importing the CLI (torch comes with it) takes seconds; starting it afresh for each of ~30 files would make this
# file slow. So one process imports it once and forks a child per file; each child runs the console script's body
# with its own argv, stdout and stderr files, and its exit status is the one the OS reports for it. The child ends
# with os._exit once the CLI has exited: tearing down a forked interpreter that holds torch takes a second.
# Any other exception still ends the child the usual way, with its traceback on stderr.
_FORKING_RUNNER = """
import json, os, sys
from lpz.cli import entry
import lpz.engine.local, lpz.runs  # what `lpz run` imports lazily: loaded once here rather than in every child
out, paths = sys.argv[1], sys.argv[2:]
codes = []
for index, path in enumerate(paths):
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for fd, suffix in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{out}/{index}.{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = ["lpz", "run", path]
        try:
            sys.exit(entry())
        except SystemExit as stop:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(stop.code if isinstance(stop.code, int) else 1)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict:
    """`lpz run FILE` for every corpus file: {file: (exit code, stdout, stderr)}."""
    out = tmp_path_factory.mktemp("cli")
    runner = subprocess.run([sys.executable, "-c", _FORKING_RUNNER, str(out), *map(str, CORPUS)],
                            cwd=out, capture_output=True, text=True, timeout=300)
    assert runner.returncode == 0, runner.stderr
    codes = json.loads(runner.stdout)
    return {path: (code, (out / f"{i}.out").read_text(), (out / f"{i}.err").read_text())
            for i, (path, code) in enumerate(zip(CORPUS, codes))}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_lpz_run_exits_2_with_one_line_naming_the_key_path(path, cli_results):
    code, stdout, stderr = cli_results[path]
    expected = header(path)
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: {path}: {expected['expect']}"), lines[0]
    assert expected["fix"] in lines[0]
    assert stdout == ""


def test_a_fresh_lpz_process_prints_the_same_line_as_the_forked_runs(cli_results, tmp_path):
    path = BAD / "tournament_too_large.yml"
    fresh = _console_script(["run", str(path)], cwd=tmp_path)
    assert fresh.returncode == 2
    assert fresh.stderr == cli_results[path][2]
    assert fresh.stderr.startswith(f"error: {path}: trainer.params.tournament_size: 7 exceeds the 5 individuals "
                                   f"of a neighbourhood")
    assert list(tmp_path.iterdir()) == []  # a refused config leaves nothing behind


def test_the_cli_and_the_config_load_without_torch():
    """So a bad config or --help answers at once, not after torch's import (seconds)."""
    import subprocess
    import sys
    probe = "import sys, lpz.cli, lpz.config, lpz.store; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


SHIPPED = sorted((ROOT / "configs").rglob("*.yml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT / "configs")) for p in SHIPPED])
def test_every_shipped_config_is_valid(path):
    config = load_config(path)
    assert config.trainer.generations >= 1


def test_the_mnist_configs_train_each_cell_a_third_against_its_partner_and_average_the_last_quarter():
    """Every grid size trains as the shipped 2x2 does (docs/grid-scaling.md): no selection, the own partner
    one batch in three, every trained copy kept, the result's generators averaged over 50 generations."""
    configs = ROOT / "configs"
    paths = [configs / "mnist.yml", configs / "fashion-mnist.yml",
             *sorted(configs.glob("neurips2018/*.yml")), *sorted(configs.glob("data-dieting/*.yml"))]
    for path in paths:
        params = load_config(path).trainer.params
        assert (params.enable_selection, params.own_share, params.replacement, params.migrant_adam,
                params.final_average) == (False, pytest.approx(1 / 3, rel=1e-12), "always", "own", 50), path


def test_from_3x3_up_the_mnist_result_is_the_es_tuned_mixture_of_every_cell():
    """docs/grid-scaling.md: on the 3x3 the mixture of all nine cells beat the best neighbourhood on both
    seeds; on a 2x2 a neighbourhood already holds three of the four cells, so it keeps the neighbourhood."""
    for path in sorted((ROOT / "configs" / "neurips2018").glob("mnist-*.yml")):
        config = load_config(path)
        params = config.trainer.params
        whole_grid = config.rows * config.cols >= 9
        assert (params.final_mixture, params.optimize_mixture.enabled) == (
            ("grid", True) if whole_grid else ("neighbourhood", False)), path


def two_colourable(grid) -> bool:
    """Whether the grid's neighbourhood graph is bipartite: two kinds of cell could make every pair of
    neighbours differ (a colouring by graph search that never meets a neighbour of its own colour)."""
    colour = {}
    for start in grid.cells:
        if start in colour:
            continue
        colour[start], queue = 0, [start]
        while queue:
            cell = queue.pop()
            for other in grid.neighbourhood(cell)[1:]:
                if other not in colour:
                    colour[other] = 1 - colour[cell]
                    queue.append(other)
                elif colour[other] == colour[cell]:
                    return False
    return True


def test_from_3x3_up_no_mnist_grid_can_settle_into_two_kinds_of_generator():
    """docs/grid-scaling.md ("Two kinds of generator"): without selection neighbouring generators make
    disjoint digits, and on a bipartite neighbourhood graph (a von Neumann torus with even sides) the
    cells settle into two kinds like a chessboard's colours, so the 4x4 mixed only a 2x2's diversity.
    The 2x2 keeps von Neumann: its complete-graph alternative (Moore, or a ring of radius 2) trained worse."""
    assert two_colourable(Grid(4, 4)) and two_colourable(Grid(2, 2)) and not two_colourable(Grid(3, 3))
    for path in sorted((ROOT / "configs" / "neurips2018").glob("mnist-*.yml")):
        config = load_config(path)
        if config.rows * config.cols >= 9:
            assert not two_colourable(Grid.from_config(config)), path
