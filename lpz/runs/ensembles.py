"""Ensembles built from a finished run (`lpz ensemble`), kept beside its result:
runs/<id>/ensembles/<name>/generators.pt and ensemble.json (its record, written last)."""
from __future__ import annotations

from lpz.errors import UserError, excerpt
from lpz.records import EnsembleRecord
from lpz.runs import keys
from lpz.runs.mixtures import DamagedResult, Mixtures


def check_ensemble_name(name: str) -> str:
    """name itself when it can name an ensemble (it becomes part of a store key); else a UserError."""
    if not (isinstance(name, str) and keys.ENSEMBLE_NAME.fullmatch(name)):
        raise UserError(f"{excerpt(name)} is not an ensemble name; use 1-40 lower-case letters, digits, '_', '.' "
                        f"or '-', starting with a letter or digit")
    return name


class Ensembles(Mixtures):
    def write_ensemble(self, name: str, generators: dict, record: EnsembleRecord) -> EnsembleRecord:
        """An ensemble's generators, then its ensemble.json with their sha256; returns the record as written."""
        return self._write_mixture(keys.ensemble(self.id, name, "generators.pt"),
                                   keys.ensemble(self.id, name, "ensemble.json"), generators, record)

    def ensemble_names(self) -> list[str]:
        """The names of the ensembles built from this run, whose record exists."""
        return sorted(name for key in self.store.list(keys.ensemble(self.id, "", ""))
                      if (name := keys.parse_ensemble(self.id, key)) is not None)

    def read_ensemble(self, name: str) -> EnsembleRecord:
        """An ensemble's record, checked; a UserError when there is none of that name."""
        check_ensemble_name(name)
        if not self.store.exists(keys.ensemble(self.id, name, "ensemble.json")):
            built = ", ".join(self.ensemble_names()) or "none yet"
            raise UserError(f"run {self.id} has no ensemble {excerpt(name)} (built: {built}); "
                            f"build one with `lpz ensemble {self.id} --method greedy-iterative`")
        return self._read_record(keys.ensemble(self.id, name, "ensemble.json"), EnsembleRecord,
                                 lambda detail: self._damaged_ensemble(name, detail))

    def read_ensemble_generators(self, name: str) -> dict:
        """{"members", "weights", "generators"} of an ensemble's generators.pt, checked against its record
        and the network."""
        record = self.read_ensemble(name)
        damaged = lambda detail: self._damaged_ensemble(name, detail)  # noqa: E731
        data = self._checked_generators(keys.ensemble(self.id, name, "generators.pt"), record, damaged)
        return self._mixture_generators(record, data, damaged)

    def _damaged_ensemble(self, name: str, detail: str) -> DamagedResult:
        return DamagedResult(f"run {self.id}: its ensemble {name} is damaged ({detail}); build it again with "
                             f"`lpz ensemble {self.id} --name {name} --replace` and the method it was built with")
