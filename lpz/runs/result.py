"""A run's result: the mixture its assembly chose (mixture/generators.pt, mixture/mixture.json).
mixture.json is written last: its presence marks the run finished."""
from __future__ import annotations

from lpz.records import MixtureResult
from lpz.runs import keys
from lpz.runs.mixtures import DamagedResult, Mixtures


class Result(Mixtures):
    def finished(self) -> bool:
        return self.store.exists(keys.result(self.id, "mixture.json"))

    def write_result(self, generators: dict, result: MixtureResult) -> MixtureResult:
        """The mixture's generators, then mixture.json with their sha256: written last, it marks the run
        finished. Returns the result as written."""
        return self._write_mixture(keys.result(self.id, "generators.pt"), keys.result(self.id, "mixture.json"),
                                   generators, result)

    def read_result(self) -> MixtureResult:
        """The run's result (mixture.json), checked; DamagedResult when it cannot be trusted."""
        return self._read_record(keys.result(self.id, "mixture.json"), MixtureResult, self._damaged_result)

    def checked_result(self) -> tuple[MixtureResult, bytes]:
        """The run's result and the bytes of its generators.pt, which match the sha256 it records."""
        result = self.read_result()
        return result, self._checked_generators(keys.result(self.id, "generators.pt"), result, self._damaged_result)

    def read_result_generators(self) -> dict:
        """{"cells", "weights", "generators"} of the result's generators.pt, checked against mixture.json
        and the network."""
        result, data = self.checked_result()
        return self._mixture_generators(result, data, self._damaged_result)

    def unfinish(self) -> None:
        """Remove the mark of a finished run, so that its result is assembled again."""
        self.store.delete(keys.result(self.id, "mixture.json"))

    def _damaged_result(self, detail: str) -> DamagedResult:
        return DamagedResult(f"run {self.id}: its result is damaged ({detail}); rebuild it from the last "
                             f"generation with `lpz assemble {self.id}`")
