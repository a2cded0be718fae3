"""The search parameters PAI serves per resource type, and the parser of a search request.

The catalog follows the CARIN Blue Button and US Core server CapabilityStatements
(../shared/reference): every SHALL and SHOULD search parameter, include and
revinclude, with the expectation the guides give it (a parameter inherits the
strongest expectation of the combinations it is part of). Each parameter names
the `domain.search.Target` it reads, so persistence can build SQL; a CONTENT
target has no column and is evaluated in Python on the resource after fetch.

Result parameters: `_count` (default 50, at most 200, larger values are
lowered; 0 asks for the total only), `_include`, `_revinclude`, `_sort` (`_id`,
`_lastUpdated` and the indexed date parameters; `-` for descending). `_format`
is handed to content negotiation and is not a criterion. Anything else
(`_summary`, `_elements`, `_total`, `_has`, chained names, ...) is unknown:
under `Prefer: handling=strict` an error, otherwise ignored and listed. A
malformed value of a known parameter, and an unknown modifier, are errors in
both modes: ignoring either would silently widen or invert the search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from domain.search import (
    DEFAULT_COUNT,
    MAX_COUNT,
    Criterion,
    DateCriterion,
    DateValue,
    Include,
    InvalidSearchValue,
    ReferenceCriterion,
    ReferenceValue,
    SearchQuery,
    SearchType,
    SortKey,
    StringCriterion,
    StringMatch,
    StringValue,
    Target,
    Token,
    TokenCriterion,
    split_values,
    unescape,
)


class Expectation(StrEnum):
    SHALL = "SHALL"
    SHOULD = "SHOULD"
    MAY = "MAY"


@dataclass(frozen=True, slots=True)
class SearchParameter:
    """One search parameter of one resource type, and where PAI finds its value.

    `path` is the FHIR element, FHIRPath-like (see `domain.search.select`);
    `reference_types` are the types a reference parameter may point to.
    """

    name: str
    type: SearchType
    target: Target
    path: str
    documentation: str
    expectation: Expectation = Expectation.MAY
    definition: str | None = None
    reference_types: tuple[str, ...] = ()

    @property
    def evaluated_in_python(self) -> bool:
        return self.target is Target.CONTENT

    @property
    def modifiers(self) -> tuple[str, ...]:
        match self.type:
            case SearchType.STRING:
                return (StringMatch.EXACT.value, StringMatch.CONTAINS.value)
            case SearchType.REFERENCE:
                return self.reference_types
            case _:
                return ()


@dataclass(frozen=True, slots=True)
class IncludeParameter:
    """An `_include` (or `_revinclude`) value: `source_type:name`, optionally `:target type`.

    `typed` includes are advertised once per target type, as the guide lists them.
    """

    source_type: str
    name: str
    path: str
    target_types: tuple[str, ...]
    expectation: Expectation = Expectation.MAY
    typed: bool = False

    @property
    def value(self) -> str:
        return f"{self.source_type}:{self.name}"

    @property
    def advertised(self) -> tuple[str, ...]:
        """The values the CapabilityStatement lists: per target type where the guide does so."""
        if not self.typed:
            return (self.value,)
        return (self.value, *(f"{self.value}:{target}" for target in self.target_types))

    def to_include(self, target_type: str | None = None) -> Include:
        targets = self.target_types if target_type is None else (target_type,)
        return Include(self.source_type, self.name, self.path, targets)


@dataclass(frozen=True, slots=True)
class ResourceSearch:
    """What a search of one resource type may ask for."""

    resource_type: str
    parameters: tuple[SearchParameter, ...]
    includes: tuple[IncludeParameter, ...] = ()
    revincludes: tuple[IncludeParameter, ...] = ()

    def parameter(self, name: str) -> SearchParameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def search_includes(self) -> tuple[str, ...]:
        """The CapabilityStatement `searchInclude` values, the `*` wildcard last."""
        values = tuple(value for include in self.includes for value in include.advertised)
        return (*values, f"{self.resource_type}:*") if values else ()

    @property
    def search_rev_includes(self) -> tuple[str, ...]:
        return tuple(value for include in self.revincludes for value in include.advertised)

    @property
    def sortable(self) -> tuple[str, ...]:
        """`_id`, `_lastUpdated` and the date parameters a column holds."""
        return tuple(
            p.name
            for p in self.parameters
            if p.target in (Target.ID, Target.LAST_UPDATED)
            or (p.type is SearchType.DATE and not p.evaluated_in_python)
        )


class SearchParameterError(Exception):
    """A search PAI refuses (HTTP 400); `message` says what is wrong and how to write it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class IgnoredParameter:
    name: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    """A search request understood: the query, and what was applied or ignored.

    `applied` lists the parameters that shaped the query, criteria by name and
    then `_include`, `_revinclude`, `_sort` and `_count` (as lowered), for the
    Bundle's `self` link. `format` is `_format`, for content negotiation.
    """

    query: SearchQuery
    applied: tuple[tuple[str, str], ...]
    ignored: tuple[IgnoredParameter, ...] = ()
    format: str | None = None


# --- the catalog --------------------------------------------------------------------------

_SHALL, _SHOULD = Expectation.SHALL, Expectation.SHOULD
_US_CORE = "http://hl7.org/fhir/us/core/SearchParameter/us-core"
_CARIN = "http://hl7.org/fhir/us/carin-bb/SearchParameter"
_BASE = "http://hl7.org/fhir/SearchParameter"
_PROVIDERS = ("Practitioner", "Organization", "PractitionerRole")
_WHOLE_DAYS = "indexed by whole days: a record counts as lasting its whole day"


def _date(
    name: str, target: Target, path: str, doc: str, expectation: Expectation = Expectation.MAY
) -> SearchParameter:
    return SearchParameter(name, SearchType.DATE, target, path, doc, expectation)


def _token(
    name: str, target: Target, path: str, doc: str, expectation: Expectation = Expectation.MAY
) -> SearchParameter:
    return SearchParameter(name, SearchType.TOKEN, target, path, doc, expectation)


def _string(name: str, path: str, doc: str, expectation: Expectation) -> SearchParameter:
    return SearchParameter(name, SearchType.STRING, Target.CONTENT, path, doc, expectation)


def _reference(
    name: str, target: Target, path: str, doc: str, refers_to: str, *, expectation: Expectation
) -> SearchParameter:
    return SearchParameter(
        name, SearchType.REFERENCE, target, path, doc, expectation, reference_types=(refers_to,)
    )


def _patient(path: str, expectation: Expectation = _SHALL) -> SearchParameter:
    doc = "The member the record belongs to: Patient/<id> or <id>."
    return _reference("patient", Target.MEMBER, path, doc, "Patient", expectation=expectation)


def _status(expectation: Expectation = _SHOULD) -> SearchParameter:
    return _token("status", Target.STATUS, "status", "The record's status code.", expectation)


def _category(expectation: Expectation = _SHALL) -> SearchParameter:
    doc = "A category coding: code or system|code."
    return _token("category", Target.CATEGORY, "category", doc, expectation)


def _code(path: str = "code", expectation: Expectation = _SHOULD) -> SearchParameter:
    doc = "A coding of the record's code: code or system|code."
    return _token("code", Target.CODE, path, doc, expectation)


def _clinical_date(name: str, path: str, expectation: Expectation = _SHOULD) -> SearchParameter:
    doc = f"The clinical date ({path}), {_WHOLE_DAYS}."
    return _date(name, Target.DATE, path, doc, expectation)


def _content_date(name: str, path: str, expectation: Expectation = _SHOULD) -> SearchParameter:
    return _date(name, Target.CONTENT, path, f"The date at {path}.", expectation)


def _content_token(name: str, path: str, expectation: Expectation = _SHOULD) -> SearchParameter:
    doc = f"A code at {path}: code or system|code."
    return _token(name, Target.CONTENT, path, doc, expectation)


def _identifier(expectation: Expectation) -> SearchParameter:
    doc = "A business identifier: value or system|value."
    return _token("identifier", Target.CONTENT, "identifier", doc, expectation)


def _include(
    source: str, name: str, path: str, *targets: str, typed: bool = False
) -> IncludeParameter:
    return IncludeParameter(source, name, path, targets, _SHOULD, typed)


def _resource(
    resource_type: str,
    *parameters: SearchParameter,
    id_expectation: Expectation = Expectation.MAY,
    last_updated_expectation: Expectation = Expectation.MAY,
    includes: tuple[IncludeParameter, ...] = (),
    member_owned: bool = True,
) -> ResourceSearch:
    """A type's catalog entry: its parameters plus `_id` and `_lastUpdated`, with definitions.

    Member-owned types take `_revinclude=Provenance:target`, as US Core asks.
    """
    common = (
        SearchParameter(
            "_id",
            SearchType.TOKEN,
            Target.ID,
            "id",
            "The logical id.",
            id_expectation,
            f"{_BASE}/Resource-id",
        ),
        SearchParameter(
            "_lastUpdated",
            SearchType.DATE,
            Target.LAST_UPDATED,
            "meta.lastUpdated",
            "When PAI stored this version: every load that changes the record sets it, "
            "reloading identical content does not. Give seconds and an offset.",
            last_updated_expectation,
            f"{_BASE}/Resource-lastUpdated",
        ),
    )
    defined = tuple(_with_definition(resource_type, p) for p in parameters)
    provenance = IncludeParameter("Provenance", "target", "target", (resource_type,), _SHALL)
    return ResourceSearch(
        resource_type,
        common + defined,
        includes,
        (provenance,) if member_owned and resource_type != "Provenance" else (),
    )


def _with_definition(resource_type: str, parameter: SearchParameter) -> SearchParameter:
    if resource_type == "ExplanationOfBenefit":
        url = f"{_CARIN}/explanationofbenefit-{parameter.name}"
    else:
        url = f"{_US_CORE}-{resource_type.lower()}-{parameter.name}"
    return replace(parameter, definition=url)


_EOB_INCLUDES = (
    _include("ExplanationOfBenefit", "patient", "patient", "Patient"),
    _include("ExplanationOfBenefit", "provider", "provider", *_PROVIDERS),
    _include("ExplanationOfBenefit", "care-team", "careTeam.provider", *_PROVIDERS),
    _include("ExplanationOfBenefit", "coverage", "insurance.coverage", "Coverage"),
    _include("ExplanationOfBenefit", "insurer", "insurer", "Organization"),
    _include(
        "ExplanationOfBenefit",
        "payee",
        "payee.party",
        *_PROVIDERS,
        "Patient",
        "RelatedPerson",
    ),
)

_RESOURCES: tuple[ResourceSearch, ...] = (
    _resource(
        "ExplanationOfBenefit",
        _patient("patient"),
        _token(
            "type",
            Target.CLAIM_TYPE,
            "type",
            "Claim type, http://terminology.hl7.org/CodeSystem/claim-type: "
            "institutional, professional, pharmacy or oral.",
            _SHALL,
        ),
        _identifier(_SHALL),
        _date(
            "service-date",
            Target.SERVICE_DATE,
            "billablePeriod | item.serviced[x]",
            "Days of service: from the first to the last day of service over the claim's "
            "lines, else its billable period. A claim is compared by its whole span.",
            _SHALL,
        ),
        _date(
            "service-start-date",
            Target.SERVICE_START_DATE,
            "billablePeriod.start | item.servicedDate | item.servicedPeriod.start",
            "First day of service: the earliest line service date, else the billable period start.",
            _SHALL,
        ),
        _date(
            "billable-period-start",
            Target.BILLABLE_PERIOD_START,
            "billablePeriod.start",
            "Start of the billable period.",
            _SHALL,
        ),
        id_expectation=_SHALL,
        last_updated_expectation=_SHALL,
        includes=_EOB_INCLUDES,
    ),
    _resource(
        "Coverage",
        _patient("beneficiary"),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
        includes=(
            _include("Coverage", "payor", "payor", "Organization", "Patient", "RelatedPerson"),
        ),
    ),
    _resource(
        "Patient",
        _identifier(_SHALL),
        _string(
            "name", "name", "Any part of a name; starts with, ignoring case and accents.", _SHALL
        ),
        _string("family", "name.family", "Family name; starts with.", _SHOULD),
        _string("given", "name.given", "Given name; starts with.", Expectation.MAY),
        _date("birthdate", Target.BIRTH_DATE, "birthDate", "Date of birth.", _SHALL),
        _content_date("death-date", "deceasedDateTime"),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "AllergyIntolerance",
        _patient("patient"),
        _content_token("clinical-status", "clinicalStatus"),
    ),
    _resource(
        "CarePlan",
        _patient("subject"),
        _category(),
        _clinical_date("date", "period"),
        _status(),
    ),
    _resource(
        "CareTeam",
        _patient("subject"),
        _content_token("role", "participant.role"),
        _status(_SHALL),
        includes=(
            _include(
                "CareTeam",
                "participant",
                "participant.member",
                "PractitionerRole",
                "Practitioner",
                "Patient",
                "RelatedPerson",
                typed=True,
            ),
        ),
    ),
    _resource(
        "Condition",
        _patient("subject"),
        _category(),
        _content_token("clinical-status", "clinicalStatus"),
        _code(),
        _reference(
            "encounter",
            Target.ENCOUNTER,
            "encounter",
            "The encounter the condition was recorded in.",
            "Encounter",
            expectation=_SHOULD,
        ),
        _clinical_date("onset-date", "onset[x]"),
        _content_date("recorded-date", "recordedDate"),
        _content_date("abatement-date", "abatement[x]"),
        _content_date(
            "asserted-date",
            "extension('http://hl7.org/fhir/StructureDefinition/condition-assertedDate').value[x]",
        ),
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "Device",
        _patient("patient"),
        _status(),
        _token("type", Target.CODE, "type", "The kind of device: code or system|code.", _SHOULD),
    ),
    _resource(
        "DiagnosticReport",
        _patient("subject"),
        _category(),
        _code(expectation=_SHALL),
        _clinical_date("date", "effective[x]", _SHALL),
        _status(),
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "DocumentReference",
        _patient("subject"),
        _category(),
        _clinical_date("date", "date", _SHALL),
        _content_date("period", "context.period"),
        _status(),
        _token("type", Target.CODE, "type", "The kind of document: code or system|code.", _SHALL),
        id_expectation=_SHALL,
    ),
    _resource(
        "Encounter",
        _patient("subject"),
        _token("class", Target.ENCOUNTER_CLASS, "class", "The encounter class code.", _SHOULD),
        _date("date", Target.DATE, "period", f"The encounter period, {_WHOLE_DAYS}.", _SHALL),
        _content_token("discharge-disposition", "hospitalization.dischargeDisposition"),
        _identifier(_SHOULD),
        _reference(
            "location",
            Target.CONTENT,
            "location.location",
            "A location of the encounter: Location/<id> or <id>.",
            "Location",
            expectation=_SHOULD,
        ),
        _status(),
        _content_token("type", "type"),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "FamilyMemberHistory",
        _patient("patient"),
        _content_token("code", "condition.code"),
    ),
    _resource(
        "Goal",
        _patient("subject"),
        _content_token("description", "description"),
        _content_token("lifecycle-status", "lifecycleStatus"),
        _content_date("target-date", "target.due[x]"),
    ),
    _resource(
        "Immunization",
        _patient("patient"),
        _clinical_date("date", "occurrence[x]"),
        _status(),
    ),
    _resource(
        "MedicationDispense",
        _patient("subject"),
        _status(),
        _content_token("type", "type"),
        includes=(_include("MedicationDispense", "medication", "medication[x]", "Medication"),),
    ),
    _resource(
        "MedicationRequest",
        _patient("subject"),
        _clinical_date("authoredon", "authoredOn"),
        _reference(
            "encounter",
            Target.ENCOUNTER,
            "encounter",
            "The encounter the request was made in.",
            "Encounter",
            expectation=_SHOULD,
        ),
        _content_token("intent", "intent", _SHALL),
        _status(_SHALL),
        includes=(_include("MedicationRequest", "medication", "medication[x]", "Medication"),),
    ),
    _resource(
        "Observation",
        _patient("subject"),
        _category(),
        _code(expectation=_SHALL),
        _clinical_date("date", "effective[x]", _SHALL),
        _status(),
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "Procedure",
        _patient("subject"),
        _code(),
        _clinical_date("date", "performed[x]", _SHALL),
        _status(),
    ),
    _resource(
        "QuestionnaireResponse",
        _patient("subject"),
        _clinical_date("authored", "authored"),
        _reference(
            "questionnaire",
            Target.CONTENT,
            "questionnaire",
            "The questionnaire answered: its canonical URL, or Questionnaire/<id>.",
            "Questionnaire",
            expectation=_SHOULD,
        ),
        _status(),
        id_expectation=_SHALL,
    ),
    _resource(
        "RelatedPerson",
        _patient("patient", _SHOULD),
        _string(
            "name", "name", "Any part of a name; starts with, ignoring case and accents.", _SHOULD
        ),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
    ),
    _resource(
        "ServiceRequest",
        _patient("subject"),
        _content_date("authored", "authoredOn", _SHALL),
        _category(),
        _code(expectation=_SHALL),
        _status(),
        id_expectation=_SHALL,
    ),
    _resource("Specimen", _patient("subject", _SHOULD), id_expectation=_SHALL),
    _resource("Provenance"),
    _resource(
        "Organization",
        _string("name", "name | alias", "Name or alias; starts with.", _SHALL),
        _string("address", "address", "Any part of the address; starts with.", _SHALL),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
        member_owned=False,
    ),
    _resource(
        "Practitioner",
        _identifier(_SHALL),
        _string("name", "name", "Any part of a name; starts with.", _SHALL),
        id_expectation=_SHALL,
        last_updated_expectation=_SHOULD,
        member_owned=False,
    ),
    _resource(
        "PractitionerRole",
        _reference(
            "practitioner",
            Target.CONTENT,
            "practitioner",
            "The practitioner in the role: Practitioner/<id> or <id>.",
            "Practitioner",
            expectation=_SHALL,
        ),
        _content_token("specialty", "specialty", _SHALL),
        includes=(
            _include("PractitionerRole", "endpoint", "endpoint", "Endpoint"),
            _include("PractitionerRole", "practitioner", "practitioner", "Practitioner"),
        ),
        member_owned=False,
    ),
    _resource(
        "Location",
        _string("name", "name | alias", "Name or alias; starts with.", _SHALL),
        _string("address", "address", "Any part of the address; starts with.", _SHALL),
        _string("address-city", "address.city", "City; starts with.", _SHOULD),
        _string("address-state", "address.state", "State; starts with.", _SHOULD),
        _string("address-postalcode", "address.postalCode", "ZIP code; starts with.", _SHOULD),
        member_owned=False,
    ),
    _resource("Endpoint", member_owned=False),
    _resource("HealthcareService", member_owned=False),
    _resource("Medication", member_owned=False),
    _resource("Questionnaire", member_owned=False),
    _resource("ValueSet", member_owned=False),
)

_CATALOG: dict[str, ResourceSearch] = {search.resource_type: search for search in _RESOURCES}


def searchable_types() -> tuple[str, ...]:
    return tuple(sorted(_CATALOG))


def resource_search(resource_type: str) -> ResourceSearch:
    """The catalog entry of a type; LookupError if PAI does not search that type."""
    try:
        return _CATALOG[resource_type]
    except KeyError:
        raise LookupError(f"{resource_type} is not a searchable resource type") from None


# --- parsing a request --------------------------------------------------------------------

# Recognised FHIR parameters PAI does not implement; they are reported as such.
_UNSUPPORTED = frozenset(
    {
        "_summary",
        "_elements",
        "_total",
        "_contained",
        "_containedType",
        "_has",
        "_text",
        "_content",
        "_list",
        "_query",
        "_filter",
        "_tag",
        "_profile",
        "_security",
        "_source",
        "_type",
        "_pretty",
    }
)
_INCLUDE_VALUE = re.compile(
    r"(?P<source>[A-Z][A-Za-z]+):(?P<name>[a-z][a-z0-9-]*|\*)(?::(?P<target>[A-Z][A-Za-z]+))?"
)
_RESULT_ORDER = ("_include", "_revinclude", "_sort", "_count")


def parse_search(
    resource_type: str, params: Sequence[tuple[str, str]], *, strict: bool
) -> ParsedSearch:
    """A search request (decoded query pairs, in order) as a `SearchQuery`.

    Raises SearchParameterError for a malformed value, an unknown modifier, or,
    when `strict`, any parameter that is not applied. `resource_type` must be
    one of `searchable_types()`.
    """
    parser = _Parser(resource_search(resource_type), strict)
    for name, value in params:
        parser.add(name, value)
    return parser.result()


class _Parser:
    """Collects one request's parameters; `strict` turns every ignored one into an error."""

    def __init__(self, search: ResourceSearch, strict: bool) -> None:
        self._search = search
        self._strict = strict
        self._criteria: list[tuple[str, str, Criterion]] = []
        self._includes: list[tuple[str, str, tuple[Include, ...]]] = []
        self._sort: tuple[str, str, tuple[SortKey, ...]] | None = None
        self._count: tuple[str, int] | None = None
        self._format: str | None = None
        self._ignored: list[IgnoredParameter] = []

    def add(self, raw_name: str, value: str) -> None:
        name, colon, modifier = raw_name.partition(":")
        if "\x00" in value:
            # No stored text holds one (PostgreSQL refuses it in text outright).
            raise SearchParameterError(raw_name, "a search value may not hold a NUL character")
        if not value:
            self._ignore(raw_name, value, "has no value")
        elif name in (*_RESULT_ORDER, "_format"):
            if colon:
                raise SearchParameterError(raw_name, f"unknown modifier; {name} takes none")
            self._add_result_parameter(name, value)
        elif (parameter := self._search.parameter(name)) is None:
            self._ignore(raw_name, value, self._unknown(name))
        else:
            criterion = _criterion(raw_name, parameter, modifier if colon else None, value)
            self._criteria.append((raw_name, value, criterion))

    def result(self) -> ParsedSearch:
        criteria = sorted(self._criteria, key=lambda entry: entry[0])
        results = sorted(self._includes, key=lambda entry: _RESULT_ORDER.index(entry[0]))
        applied = [(name, value) for name, value, _ in (*criteria, *results)]
        if self._sort is not None:
            applied.append(self._sort[:2])
        if self._count is not None:
            applied.append((self._count[0], str(self._count[1])))
        query = SearchQuery(
            self._search.resource_type,
            criteria=tuple(criterion for _, _, criterion in criteria),
            includes=_unique(i for name, _, found in results if name == "_include" for i in found),
            revincludes=_unique(
                i for name, _, found in results if name == "_revinclude" for i in found
            ),
            sort=self._sort[2] if self._sort else (),
            count=DEFAULT_COUNT if self._count is None else self._count[1],
        )
        return ParsedSearch(query, tuple(applied), tuple(self._ignored), self._format)

    def _add_result_parameter(self, name: str, value: str) -> None:
        match name:
            case "_count":
                self._add_count(value)
            case "_include" | "_revinclude":
                self._add_include(name, value)
            case "_sort":
                self._add_sort(value)
            case _:
                if self._format is None:
                    self._format = value
                else:
                    self._ignore(name, value, "_format is given more than once")

    def _add_count(self, value: str) -> None:
        if self._count is not None:
            self._ignore("_count", value, "_count is given more than once")
            return
        if re.fullmatch(r"[0-9]+", value) is None:
            raise SearchParameterError(
                "_count", f"'{value}' is not a whole number of entries (0 for the total only)"
            )
        digits = value.lstrip("0") or "0"
        self._count = ("_count", MAX_COUNT if len(digits) > 4 else min(int(digits), MAX_COUNT))

    def _add_include(self, name: str, value: str) -> None:
        match = _INCLUDE_VALUE.fullmatch(value)
        if match is None:
            raise SearchParameterError(
                name, f"'{value}' is not an include; write SourceType:parameter[:TargetType]"
            )
        reverse = name == "_revinclude"
        candidates = self._search.revincludes if reverse else self._search.includes
        found = _resolve_include(candidates, match["source"], match["name"], match["target"])
        if found:
            self._includes.append((name, value, found))
            return
        values = self._search.search_rev_includes if reverse else self._search.search_includes
        supported = f"use {_or(values)}" if values else "none are supported"
        kind = "a reverse include" if reverse else "an include"
        self._ignore(
            name, value, f"'{value}' is not {kind} of {self._search.resource_type}; {supported}"
        )

    def _add_sort(self, value: str) -> None:
        if self._sort is not None:
            self._ignore("_sort", value, "_sort is given more than once")
            return
        keys: list[SortKey] = []
        for part in value.split(","):
            name = part.removeprefix("-")
            parameter = self._search.parameter(name)
            if parameter is None or name not in self._search.sortable:
                options = _or(self._search.sortable)
                self._ignore("_sort", value, f"cannot sort by '{name}'; sort by {options}")
                return
            keys.append(SortKey(name, parameter.target, descending=part.startswith("-")))
        self._sort = ("_sort", value, tuple(keys))

    def _unknown(self, name: str) -> str:
        if "." in name:
            return "chained search is not supported"
        if name in _UNSUPPORTED:
            return f"{name} is not supported by this server"
        names = ", ".join(p.name for p in self._search.parameters)
        return f"unknown search parameter for {self._search.resource_type}; use {names}"

    def _ignore(self, name: str, value: str, reason: str) -> None:
        if self._strict:
            raise SearchParameterError(name, reason)
        self._ignored.append(IgnoredParameter(name, value, reason))


def _criterion(
    raw_name: str, parameter: SearchParameter, modifier: str | None, value: str
) -> Criterion:
    if modifier is not None and modifier not in parameter.modifiers:
        raise SearchParameterError(raw_name, _unknown_modifier(parameter, modifier))
    try:
        parts = split_values(value)
        return _typed_criterion(parameter, modifier, parts)
    except InvalidSearchValue as error:
        raise SearchParameterError(raw_name, str(error)) from None


def _typed_criterion(
    parameter: SearchParameter, modifier: str | None, parts: list[str]
) -> Criterion:
    name, target, path = parameter.name, parameter.target, parameter.path
    match parameter.type:
        case SearchType.DATE:
            dates = tuple(DateValue.parse(unescape(part)) for part in parts)
            return DateCriterion(name, target, path, dates, modifier)
        case SearchType.TOKEN if target is Target.ID:
            ids = tuple(Token.of_id(unescape(part)) for part in parts)
            return TokenCriterion(name, target, path, ids, modifier)
        case SearchType.TOKEN:
            tokens = tuple(Token.parse(part) for part in parts)
            return TokenCriterion(name, target, path, tokens, modifier)
        case SearchType.REFERENCE:
            allow_url = target is Target.CONTENT
            references = tuple(
                ReferenceValue.parse(unescape(part), parameter.reference_types, modifier, allow_url)
                for part in parts
            )
            return ReferenceCriterion(name, target, path, references, modifier)
        case SearchType.STRING:
            match_kind = StringMatch(modifier) if modifier else StringMatch.STARTS_WITH
            strings = tuple(StringValue(unescape(part), match_kind) for part in parts)
            return StringCriterion(name, target, path, strings, modifier)


def _unknown_modifier(parameter: SearchParameter, modifier: str) -> str:
    if not parameter.modifiers:
        return f"unknown modifier ':{modifier}'; {parameter.name} takes none"
    options = _or(tuple(f":{m}" for m in parameter.modifiers))
    return f"unknown modifier ':{modifier}'; {parameter.name} takes {options}"


def _resolve_include(
    candidates: tuple[IncludeParameter, ...], source: str, name: str, target: str | None
) -> tuple[Include, ...]:
    if name == "*":
        # The wildcard stands for every include of the type, with no target type.
        chosen = () if target else tuple(c for c in candidates if c.source_type == source)
        return tuple(c.to_include() for c in chosen)
    for candidate in candidates:
        if candidate.source_type == source and candidate.name == name:
            if target is not None and target not in candidate.target_types:
                return ()
            return (candidate.to_include(target),)
    return ()


def _unique(includes: Iterable[Include]) -> tuple[Include, ...]:
    return tuple(dict.fromkeys(includes))


def _or(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"
