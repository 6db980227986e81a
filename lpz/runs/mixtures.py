"""Mixtures in the store, written and read checked: the run's result and its ensembles share this.

A mixture is a generators.pt (the generators' weights and the mixture's weights) and a record written
after it (mixture.json, ensemble.json) that holds its sha256. A record that does not validate, a
generators.pt that is missing, differs from its sha256, is refused by the safe loader or does not fit
the record and the run's network is damage: the reader's DamagedResult names the fix.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from lpz.errors import CorruptObject, ObjectMissing, UserError
from lpz.files import sha256
from lpz.records import EnsembleRecord, InvalidRecord, MixtureResult, checked
from lpz.runs.base import MAX_RECORD_BYTES, RunBase

MixtureRecord = TypeVar("MixtureRecord", MixtureResult, EnsembleRecord)
Damaged = Callable[[str], UserError]


class DamagedResult(UserError):
    """A finished run whose result (mixture/) is damaged: `lpz assemble` rebuilds it."""


class Mixtures(RunBase):
    def _write_mixture(self, generators_key: str, record_key: str, generators: dict,
                       record: MixtureRecord) -> MixtureRecord:
        """generators.pt, then the record with its sha256 (written last); returns the record as written."""
        data = self.store.put_tensors(generators_key, generators)
        written = record.model_copy(update={"files": {"generators.pt": sha256(data)}})
        self.store.put_json(record_key, written.to_json())
        return written

    def _read_record(self, key: str, model: type[MixtureRecord], damaged: Damaged) -> MixtureRecord:
        name = key.rsplit("/", 1)[-1]
        try:
            record = checked(model, self.store.get_json(key, max_bytes=MAX_RECORD_BYTES))
        except (CorruptObject, InvalidRecord) as e:
            raise damaged(f"{name}: {e}") from None
        if "generators.pt" not in record.files:
            raise damaged(f"{name}: files: it records no sha256 of generators.pt")
        return record

    def _checked_generators(self, key: str, record: MixtureRecord, damaged: Damaged) -> bytes:
        """The bytes of a generators.pt, which match the sha256 its record holds."""
        try:
            data = self.store.get(key, self.mixture_bytes)
        except (CorruptObject, ObjectMissing) as e:
            raise damaged(f"generators.pt: {e}") from None
        if sha256(data) != record.files["generators.pt"]:
            raise damaged("generators.pt: its sha256 differs from the one its record holds")
        return data

    def _mixture_generators(self, record: MixtureRecord, data: bytes, damaged: Damaged) -> dict:
        """The generators.pt of a record, loaded safely and checked against the record and the network."""
        from lpz.algorithm.individual import weights_fit
        from lpz.algorithm.nets import parameter_shapes
        from lpz.store.base import tensors_from

        try:
            saved = tensors_from(data)
        except Exception:  # torch's message would suggest weights_only=False: never
            raise damaged("generators.pt: the safe loader refuses it") from None
        if not (isinstance(saved, dict) and isinstance(saved.get("generators"), list)
                and saved.get("weights") == record.weights and len(saved["generators"]) == len(record.weights)):
            raise damaged("generators.pt does not hold the mixture its record describes")
        shapes = parameter_shapes(self.config.network, self.sample_shape, "g")
        if not all(weights_fit(weights, shapes) for weights in saved["generators"]):
            raise damaged("generators.pt: its weights do not fit the run's network")
        return saved
