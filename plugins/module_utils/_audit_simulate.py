# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What would an audit policy write? Replays an existing audit log against candidate policies.

Every request of the log (one ``auditID``, however many stage events the log holds for it) is decided
again by each candidate with the collection's policy engine, exactly as kube-apiserver decides it. For
each candidate the simulator counts the events it would write (one per stage it keeps: RequestReceived,
ResponseStarted for long-running requests, ResponseComplete) and their bytes:

- an event's metadata part is the size of the log's own event without its bodies;
- ``requestObject`` / ``responseObject`` are counted where the candidate's level carries them
  (Request / RequestResponse, on the ResponseComplete event). Where the log has them (it was written at
  that level) their real size is used; where it has not, they are estimated from the mean size the log
  shows for the same verb and resource, or else from typical sizes (``REQUEST_BODY_BYTES``,
  ``RESPONSE_BODY_BYTES``). The estimated share is reported separately.

From the log's time span it projects events per second, MiB per day and how long the log rotation
(kube-apiserver's ``--audit-log-maxsize`` x ``--audit-log-maxbackup`` under ``--audit-log-maxage``,
Deckhouse: 100 MB x 10 files, 30 days) keeps events. It also reports which security-relevant requests
each candidate records or loses (``SECURITY_CATEGORIES``).

The log is streamed (plain or gzip JSON lines): memory stays bounded whatever its size. Lines that are
not audit events are counted and skipped; the first few are reported with their line numbers.

Run it without Ansible too:
    python -m ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate LOG --preset security
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import gzip
import json
import os
import sys
import time
import zlib

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import PathError
from ansible_collections.auditops.deckhouse.plugins.module_utils import _audit_policy as engine
from ansible_collections.auditops.deckhouse.plugins.module_utils import _detection_coverage
# The reading and the formatting have files of their own; this file stays the public face (modules, filters,
# tests and benchmarks import from here).
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate_read import (  # noqa: F401 (re-exported, see __all__)
    DECODERS, DEFAULT_DECODER, Line, _request_from_key, body_sizes, parse_timestamp, read_line, request_from_event,
    request_key)
from ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate_report import (  # noqa: F401 (re-exported, see __all__)
    SECURITY_CATEGORIES, _human, _rule_summary, format_report, format_tables, summary_line)

__all__ = [
    "body_sizes", "BAD_LINE_EXAMPLES", "Candidate", "DECISION_CACHE_LIMIT", "DECODERS", "DEFAULT_DECODER",
    "DEFAULT_ROTATION", "FINAL_STAGES", "format_report", "format_tables", "LEVELS", "Line", "main", "MIB",
    "parse_timestamp", "PENDING_LIMIT", "read_line", "Report", "REQUEST_BODY_BYTES", "request_from_event",
    "request_key", "RESPONSE_BODY_BYTES", "SECURITY_CATEGORIES", "security_categories", "simulate",
    "SimulationError", "summary_line", "TARGETS",
]

LEVELS = engine.LEVELS
_RANK = dict((level, rank) for rank, level in enumerate(LEVELS))
FINAL_STAGES = frozenset(("ResponseComplete", "Panic"))
TARGETS = engine.TARGETS

# Deckhouse's kube-apiserver flags: --audit-log-maxsize=100 --audit-log-maxbackup=10 --audit-log-maxage=30.
DEFAULT_ROTATION = {"max_size_mb": 100, "max_backups": 10, "max_age_days": 30}
MIB = 1024 * 1024  # lumberjack's "megabyte"

# Typical body sizes in bytes (JSON with its key), used only for a kind of request the log never shows a
# body for. A modern object with managedFields is a few KB; a list is many objects; watch, connect
# (exec/attach/portforward/proxy/log) and non-resource requests log no bodies.
REQUEST_BODY_BYTES = {"create": 2500, "update": 3000, "patch": 600, "delete": 150, "deletecollection": 150}
RESPONSE_BODY_BYTES = {"get": 3000, "list": 30000, "create": 3000, "update": 3000, "patch": 3000,
                       "delete": 3000, "deletecollection": 30000}
_NO_BODY_SUBRESOURCES = engine.LONG_RUNNING_SUBRESOURCES

_WRITE_VERBS = frozenset(("create", "update", "patch", "delete", "deletecollection"))
_INTERACTIVE = frozenset(("exec", "attach", "portforward"))

BAD_LINE_EXAMPLES = 5
PENDING_LIMIT = 50000     # requests waiting for their ResponseComplete event (in-flight watches and the like)
DECISION_CACHE_LIMIT = 65536
_PROGRESS_EVERY_LINES = 20000


class SimulationError(PathError):
    """A problem with the input: ``path`` names the option or file, ``message`` says what is wrong."""


class Candidate(object):
    """A policy to simulate: a mapping or YAML/JSON text, as Deckhouse (``target='deckhouse'``, composed
    with its basic rules when ``basic_policy``) or kubeadm (the file as it is) would run it."""

    def __init__(self, name, policy, target="deckhouse", basic_policy=True):
        self.name = name
        self.policy = policy
        self.target = target
        self.basic_policy = basic_policy


def _privileged(body):
    """Whether a pod (or pod patch) body asks for a privileged container."""
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        return False
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            context = container.get("securityContext") if isinstance(container, dict) else None
            if isinstance(context, dict) and context.get("privileged") is True:
                return True
    return False


def security_categories(request, event):
    """The SECURITY_CATEGORIES a request belongs to (``event`` is its last event, for the body)."""
    found = list(_request_categories(request))
    if _may_be_privileged(request) and _privileged(event.get("requestObject")):
        found.append("privileged_pods")
    return found


def _request_categories(request):
    """The categories a request belongs to whatever its body."""
    found = []
    core = request["resource_request"] and not request["api_group"]
    if core and request["resource"] == "pods" and request["subresource"] in _INTERACTIVE:
        found.append("pod_exec_attach")
    if core and request["resource"] == "secrets":
        found.append("secrets_access")
    if request["api_group"] == "rbac.authorization.k8s.io" and request["verb"] in _WRITE_VERBS:
        found.append("rbac_changes")
    return tuple(found)


def _may_be_privileged(request):
    return (request["resource_request"] and not request["api_group"] and request["resource"] == "pods"
            and not request["subresource"] and request["verb"] in ("create", "update", "patch"))


def _body_kind(request):
    """Requests whose bodies are alike: their sizes are learned and estimated together."""
    if not request["resource_request"]:
        return None
    return (request["verb"], request["api_group"], request["resource"], request["subresource"])


def _default_body(kind, table):
    if kind is None or kind[3] in _NO_BODY_SUBRESOURCES:
        return 0
    return table.get(kind[0], 0)


class _Result(object):
    """Counters of one candidate."""

    def __init__(self, candidate, policy, decide, origins):
        self.name = candidate.name
        self.target = candidate.target
        self.policy = policy
        self.decide = decide
        self.origins = origins      # per rule index: (origin, index in the candidate's own rules or None)
        self.events = 0
        self.bytes = 0
        self.estimated_bytes = 0
        self.input_events = dict.fromkeys(LEVELS, 0)      # the log's events, by the level this policy gives them
        self.requests = dict.fromkeys(LEVELS, 0)
        self.levels = dict((level, [0, 0, 0]) for level in LEVELS)   # requests, events, bytes written
        self.rules = {}                                  # rule index (None: no rule matched) -> same
        self.deferred = {}                               # (rule, level, body kind) -> [request bodies, response bodies]
        self.security = dict((name, [0, 0, 0]) for name in SECURITY_CATEGORIES)  # requests, recorded, with body

    def add_bytes(self, rule, level, size):
        self.bytes += size
        self.levels[level][2] += size
        self.rules[rule][2] += size


class Report(object):
    """The simulator's answer: ``input`` (what the log held) and one result per candidate."""

    def __init__(self, source, results):
        self.input = source
        self.results = results

    def as_dict(self):
        return {"input": dict(self.input), "results": list(self.results)}


def _effective(candidate, index, kubernetes_version):
    """(effective policy or None, decide function, rule origins) for one candidate."""
    where = "policies[%d]" % index
    if candidate.target not in TARGETS:
        raise SimulationError(where + ".target", "must be one of %s" % ", ".join(TARGETS))
    try:
        loaded = engine.load_policy(candidate.policy, kubernetes_version)
    except engine.PolicyError as exc:
        raise SimulationError(where, str(exc))
    if not loaded.accepted:
        raise SimulationError("%s.%s" % (where, loaded.error_path or "policy"),
                              "kube-apiserver %s would refuse this policy: %s" % (kubernetes_version, loaded.error))
    if candidate.target == "kubeadm":
        policy = loaded.policy
        origins = [("policy", rule) for rule in range(len(policy.get("rules") or ()))]
    else:
        composed = engine.compose(loaded.policy, target="deckhouse", basic_policy=candidate.basic_policy,
                                  kubernetes_version=kubernetes_version)
        policy = composed.policy
        rules = (policy or {}).get("rules") or ()
        origins = []
        for rule in range(len(rules)):
            own = rule - composed.user_offset
            origins.append(("policy", own) if 0 <= own < composed.user_count else ("deckhouse-basic", None))
    if policy is None:  # Deckhouse renders no policy: nothing is audited
        nothing = engine.Decision("None", [], False, None)
        return None, lambda request: nothing, origins
    return policy, engine.evaluator(policy, kubernetes_version), origins


def _named_resources(policies):
    """The (group, resource) pairs that rules of ``policies`` (effective policies) match by object name
    (resourceNames), for ``request_key``; None (every name counts) when such a rule has a wildcard group
    or resource."""
    named = set()
    for policy in policies:
        for rule in (policy or {}).get("rules") or ():
            for entry in rule.get("resources") or ():
                if not entry.get("resourceNames"):
                    continue
                group = entry.get("group", "")
                for spec in entry.get("resources") or ():
                    resource = spec.split("/", 1)[0]
                    if group == "*" or resource == "*":
                        return None
                    named.add((group, resource))
    return frozenset(named)


_READ_BUFFER = 1 << 20


def _open(path):
    """(line iterator over bytes, raw file for progress) for a plain or gzip file."""
    if os.path.isdir(path):
        raise SimulationError("log", "%s is a directory, not an audit log file" % path)
    try:
        # A large buffer: with the default one (a few KiB) reading lines costs a system call every few lines.
        raw = open(path, "rb", buffering=_READ_BUFFER)
    except (IOError, OSError) as exc:
        raise SimulationError("log", "cannot read %s: %s" % (path, exc.strerror or exc))
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


_STAGE_INDEX = dict((stage, index) for index, stage in enumerate(engine.STAGES))
# The sums kept per group of alike requests (_Simulation.accumulated): requests, input events, request and
# response body bytes, then the metadata bytes one event of each stage (engine.STAGES) would cost.
_COUNT, _INPUT_EVENTS, _REQUEST_BYTES, _RESPONSE_BYTES, _STAGE_BYTES = range(5)
_STAGE_SLOTS = tuple(enumerate(engine.STAGES, _STAGE_BYTES))       # (index in the sums, stage)
_STAGE_INDEXES = tuple(index for index, _stage in _STAGE_SLOTS)


class _Simulation(object):
    """One pass over a log for a list of candidates.

    Every number a result reports is a sum over requests, so requests that every candidate decides alike
    (same level, stages and rule for each; same security categories and body kind) are summed together
    while the log is read, and each candidate's counters are computed from those sums at the end: the
    work per request does not grow with the number of candidates."""

    def __init__(self, results):
        self.results = results
        self.cache = {}
        self.groups = {}             # (decisions, categories, body kind) -> group id
        self.group_list = []         # group id -> the same tuple
        self.accumulated = {}        # (group id, privileged, request body known, response body known) -> sums
        self.pending = {}
        self.request_bodies = {}     # body kind -> [bytes, count] seen in the log
        self.response_bodies = {}
        self.requests = 0
        self.unfinished = 0
        self.source_levels = dict.fromkeys(LEVELS, 0)

    def lookup(self, key):
        """What is known of a request key: the request, per candidate (level, stages, rule), its security
        categories, whether a body can make it a privileged pod, its body kind, its group id. Computed once
        per distinct key (bounded cache); ValueError when the key's fields have the wrong types."""
        found = self.cache.get(key)
        if found is None:
            request = _request_from_key(key)
            if len(self.cache) >= DECISION_CACHE_LIMIT:
                self.cache.clear()
            long_running = engine.is_long_running(request)
            decisions = []
            for result in self.results:
                decision = result.decide(request)
                stages = tuple(decision.stages(long_running, authenticated=request["user"] is not None))
                decisions.append((decision.level, stages, decision.rule))
            categories, kind = _request_categories(request), _body_kind(request)
            signature = (tuple(decisions), categories, kind)
            group = self.groups.get(signature)
            if group is None:
                group = self.groups[signature] = len(self.group_list)
                self.group_list.append(signature)
            found = (request, decisions, categories, _may_be_privileged(request), kind, group,
                     request["user"] is not None)
            self.cache[key] = found
        return found

    def event(self, read, known):
        """One audit event (``read``: read_line() of it, ``known``: lookup() of its request); the request is
        accounted at its final event (or when it leaves the pending window / the log ends without one)."""
        event = read.event
        audit_id = event.get("auditID")
        stage = event.get("stage")
        pending = self.pending
        entry = pending.pop(audit_id, None) if pending else None
        if known[6] and stage not in FINAL_STAGES:  # an authenticated request's earlier stage: wait for the last
            if entry is None:
                entry = [known, read, 0, {}]
                if len(pending) >= PENDING_LIMIT:
                    oldest = next(iter(pending))
                    self.finish(*pending.pop(oldest), final=False)
            # Keep only what finish() needs of a waiting event: memory stays small with many open watches.
            level = event.get("level")
            entry[1] = Line({"level": level}, 0, 0, None, read.meta_size)
            entry[2] += 1
            entry[3][stage] = _metadata_size(read.meta_size, level)
            pending[audit_id] = entry
            return
        if entry is None:
            self.finish(known, read, 1, None, final=True)
        else:
            self.finish(known, read, entry[2] + 1, entry[3], final=True)

    def finish(self, known, read, input_events, metas, final):
        """Account one request: add it to the sums of its group. ``read`` is its last event in the log,
        ``metas`` the metadata sizes of its other stages' events (a stage the log lacks costs what the last
        event costs)."""
        self.requests += 1
        level_in = read.event.get("level")
        rank_in = _RANK.get(level_in, 0)
        self.source_levels[level_in if level_in in _RANK else "None"] += input_events
        meta = _metadata_size(read.meta_size, level_in)
        # The log shows whether (and how big) a body is only where its own level carried it.
        privileged = bool(known[3] and final and read.request_body is not None and _privileged(read.request_object()))
        where = (known[5], privileged, final and rank_in >= 2, final and rank_in >= 3)
        sums = self.accumulated.get(where)
        if sums is None:
            sums = self.accumulated[where] = [0] * (_STAGE_BYTES + len(engine.STAGES))
        sums[_COUNT] += 1
        sums[_INPUT_EVENTS] += input_events
        if final:
            sums[_REQUEST_BYTES] += read.request_size
            sums[_RESPONSE_BYTES] += read.response_size
        else:
            self.unfinished += 1
        if metas:
            for index, stage in _STAGE_SLOTS:
                sums[index] += metas.get(stage, meta)
        else:
            for index in _STAGE_INDEXES:
                sums[index] += meta

    def _account(self, where, sums):
        """Every candidate's counters for one group of requests (``sums``, see finish())."""
        group, privileged, request_known, response_known = where
        decisions, categories, kind = self.group_list[group]
        count = sums[_COUNT]
        if kind is not None:
            if request_known:
                _learn(self.request_bodies, kind, sums[_REQUEST_BYTES], count)
            if response_known:
                _learn(self.response_bodies, kind, sums[_RESPONSE_BYTES], count)
        if privileged:
            categories += ("privileged_pods",)
        for result, (level, stages, rule) in zip(self.results, decisions):
            result.input_events[level] += sums[_INPUT_EVENTS]
            result.requests[level] += count
            stats = result.rules.get(rule)
            if stats is None:
                stats = result.rules[rule] = [0, 0, 0]
            stats[0] += count
            result.levels[level][0] += count
            with_body = _RANK[level] >= 2 and "ResponseComplete" in stages
            for name in categories:
                counters = result.security[name]
                counters[0] += count
                if stages:
                    counters[1] += count
                    if with_body:
                        counters[2] += count
            if not stages:
                continue
            events = len(stages) * count
            result.events += events
            result.levels[level][1] += events
            stats[1] += events
            size = events * len(level)
            for stage in stages:
                size += sums[_STAGE_BYTES + _STAGE_INDEX[stage]]
            if with_body:
                deferred = None
                if request_known:
                    size += sums[_REQUEST_BYTES]
                else:
                    deferred = result.deferred.setdefault((rule, level, kind), [0, 0])
                    deferred[0] += count
                if level == "RequestResponse":
                    if response_known:
                        size += sums[_RESPONSE_BYTES]
                    else:
                        deferred = deferred or result.deferred.setdefault((rule, level, kind), [0, 0])
                        deferred[1] += count
            result.add_bytes(rule, level, size)

    def close(self):
        for known, read, count, metas in list(self.pending.values()):
            self.finish(known, read, count, metas, final=False)
        self.pending.clear()
        for where, sums in self.accumulated.items():
            self._account(where, sums)
        self.accumulated.clear()
        for result in self.results:
            for (rule, level, kind), (requests, responses) in result.deferred.items():
                size = requests * _mean(self.request_bodies, kind, REQUEST_BODY_BYTES) + \
                    responses * _mean(self.response_bodies, kind, RESPONSE_BODY_BYTES)
                result.estimated_bytes += size
                result.add_bytes(rule, level, size)


def _metadata_size(meta_size, level):
    """Bytes of an event line without its bodies and without its level's name, newline included (``meta_size``:
    Line.meta_size, ``level``: the event's level)."""
    return meta_size + 1 - (len(level) if level.__class__ is str else 0)


def _learn(table, kind, size, count):
    seen = table.get(kind)
    if seen is None:
        table[kind] = [size, count]
    else:
        seen[0] += size
        seen[1] += count


def _mean(table, kind, defaults):
    seen = table.get(kind)
    if seen:
        return int(round(seen[0] / float(seen[1])))
    return _default_body(kind, defaults)


def _result_dict(result, duration, rotation):
    rules_out = []
    policy_rules = (result.policy or {}).get("rules") or []
    for rule in sorted(result.rules, key=lambda index: (index is None, index)):
        requests, events, size = result.rules[rule]
        if rule is None:
            entry = {"rule": None, "origin": "default", "policy_rule": None, "level": "None",
                     "summary": "no rule matched (not audited)"}
        else:
            origin, own = result.origins[rule]
            entry = {"rule": rule, "origin": origin, "policy_rule": own, "level": policy_rules[rule].get("level"),
                     "summary": _rule_summary(policy_rules[rule])}
        entry.update({"requests": requests, "events": events, "bytes": size})
        rules_out.append(entry)
    out = {
        "name": result.name,
        "target": result.target,
        "events": result.events,
        "bytes": result.bytes,
        "estimated_body_bytes": result.estimated_bytes,
        "by_level": dict(result.input_events),
        "requests_by_level": dict(result.requests),
        "levels": dict((level, {"requests": values[0], "events": values[1], "bytes": values[2]})
                       for level, values in result.levels.items()),
        "rules": rules_out,
        "security": dict((name, {"requests": values[0], "recorded": values[1], "lost": values[0] - values[1],
                                 "with_body": values[2]})
                         for name, values in result.security.items()),
        "events_per_second": None, "mb_per_day": None, "retention_hours": None, "retention_limited_by": None,
    }
    # Which detections (_detections) the policy keeps alive: decided once per detection, off the hot path.
    out["detections"] = _detection_coverage.coverage(result.decide, result.origins)
    if duration:
        per_second = result.bytes / duration
        out["events_per_second"] = round(result.events / duration, 3)
        out["mb_per_day"] = round(per_second * 86400 / MIB, 3)
        age_hours = rotation["max_age_days"] * 24.0
        kept = rotation["max_size_mb"] * MIB * rotation["max_backups"]
        size_hours = kept / per_second / 3600 if per_second else None
        if size_hours is not None and size_hours < age_hours:
            out["retention_hours"], out["retention_limited_by"] = round(size_hours, 3), "size"
        else:
            out["retention_hours"], out["retention_limited_by"] = age_hours, "age"
    return out


def _check_rotation(rotation):
    merged = dict(DEFAULT_ROTATION)
    for key, value in (rotation or {}).items():
        if key not in DEFAULT_ROTATION:
            raise SimulationError("rotation.%s" % key, "unknown key; known keys are %s" % ", ".join(sorted(DEFAULT_ROTATION)))
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SimulationError("rotation.%s" % key, "must be a positive integer, got %r" % (value,))
        merged[key] = value
    return merged


def simulate(path, candidates, kubernetes_version=engine.DEFAULT_KUBERNETES_VERSION, rotation=None, progress=None,
             progress_interval=5.0, decoder=None):
    """Replay the audit log at ``path`` against ``candidates`` (a list of Candidate). ``rotation`` overrides
    DEFAULT_ROTATION; ``progress(lines, bytes_read, bytes_total)`` is called about every
    ``progress_interval`` seconds; ``decoder`` is a name in DECODERS (default DEFAULT_DECODER: orjson
    where it is installed; the report is the same with either). Returns a Report; SimulationError on a
    bad candidate or unreadable log (checked before the log is read)."""
    if not candidates:
        raise SimulationError("policies", "give at least one policy to simulate")
    loads = DECODERS.get(decoder or DEFAULT_DECODER)
    if loads is None:
        raise SimulationError("decoder", "must be one of %s, got %r" % (", ".join(sorted(DECODERS)), decoder))
    rotation = _check_rotation(rotation)
    names = set()
    results = []
    for index, candidate in enumerate(candidates):
        if not candidate.name or candidate.name in names:
            raise SimulationError("policies[%d].name" % index, "must be a unique, non-empty name")
        names.add(candidate.name)
        policy, decide, origins = _effective(candidate, index, kubernetes_version)
        results.append(_Result(candidate, policy, decide, origins))
    lines, raw = _open(path)
    total = os.fstat(raw.fileno()).st_size
    run = _Simulation(results)
    lookup = run.lookup
    cache = run.cache
    add_event = run.event
    named = _named_resources([result.policy for result in results])
    source = {"path": path, "lines": 0, "events": 0, "requests": 0, "bad_lines": 0, "bad_line_examples": [],
              "bytes": 0, "first_timestamp": None, "last_timestamp": None, "duration_seconds": None,
              "unfinished_requests": 0, "levels": {}}
    first = last = None
    number = events = 0
    size = 0
    next_report = time.time() + progress_interval
    reported = False
    try:
        for number, line in enumerate(lines, 1):
            size += len(line)
            if progress is not None and number % _PROGRESS_EVERY_LINES == 0 and time.time() >= next_report:
                progress(number, raw.tell(), total)
                next_report, reported = time.time() + progress_interval, True
            try:
                read = read_line(line, loads)
                event = read.event
                api_version = event.get("apiVersion") if event.__class__ is dict else None
                # (str() of any other JSON value cannot start like an apiVersion, so only a string is looked at.)
                if api_version.__class__ is not str or event.get("kind") != "Event" or \
                        not api_version.startswith("audit.k8s.io/"):
                    if not line.strip():
                        continue
                    raise ValueError("not an audit.k8s.io Event")
                if not event.get("auditID") or not isinstance(event.get("stage"), str):
                    raise ValueError("auditID or stage is missing")
                key = request_key(event, named)
                known = cache.get(key) or lookup(key)  # lookup() when not cached: one call less per event
            except (ValueError, TypeError) as exc:
                if not line.strip():
                    continue
                source["bad_lines"] += 1
                if len(source["bad_line_examples"]) < BAD_LINE_EXAMPLES:
                    error = _short(exc) if isinstance(exc, ValueError) else \
                        "an object or list where a string belongs (%s)" % _short(exc)
                    source["bad_line_examples"].append({"line": number, "error": error})
                continue
            events += 1
            stamp = event.get("stageTimestamp")
            if isinstance(stamp, str):
                if first is None or stamp < first:
                    first = stamp
                if last is None or stamp > last:
                    last = stamp
            add_event(read, known)
    except (IOError, OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise SimulationError("log", "reading %s failed after line %d: %s" % (path, number, exc))
    finally:
        raw.close()
    run.close()
    if reported:  # a long run ends with a last progress line
        progress(number, total, total)
    source.update({"lines": number, "events": events, "bytes": size, "requests": run.requests, "unfinished_requests": run.unfinished,
                   "levels": run.source_levels, "first_timestamp": first, "last_timestamp": last})
    start, end = parse_timestamp(first), parse_timestamp(last)
    duration = end - start if start is not None and end is not None and end > start else None
    source["duration_seconds"] = round(duration, 6) if duration else None
    source["rotation"] = rotation
    return Report(source, [_result_dict(result, duration, rotation) for result in results])


def _short(exc):
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


# --- command line (python -m ...; modules use simulate() only) -----------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m ansible_collections.auditops.deckhouse.plugins.module_utils._audit_simulate",
        description="Replay an audit log against audit policies: events, bytes, MiB/day, retention, "
                    "security-relevant requests kept or lost.")
    parser.add_argument("log", help="audit log: JSON lines of audit.k8s.io/v1 Events, plain or gzip")
    parser.add_argument("--preset", action="append", default=[], choices=engine.PRESETS,
                        help="a built-in policy (repeatable)")
    parser.add_argument("--policy", action="append", default=[], metavar="FILE",
                        help="a policy file, named after the file (repeatable)")
    parser.add_argument("--target", choices=TARGETS, default="deckhouse",
                        help="deckhouse: composed with the basic rules as Deckhouse deploys it; kubeadm: as it is")
    parser.add_argument("--no-basic-policy", action="store_true", help="Deckhouse with basicAuditPolicyEnabled off")
    parser.add_argument("--kubernetes-version", default=engine.DEFAULT_KUBERNETES_VERSION)
    for key, value in sorted(DEFAULT_ROTATION.items()):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=value)
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    args = parser.parse_args(argv)
    candidates = [Candidate(name, engine.preset(name), args.target, not args.no_basic_policy) for name in args.preset]
    for path in args.policy:
        try:
            with open(path, "rb") as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            parser.error("cannot read policy %s: %s" % (path, exc))
        candidates.append(Candidate(os.path.basename(path), text, args.target, not args.no_basic_policy))
    if not candidates:
        parser.error("give at least one --preset or --policy")
    started = time.time()

    def progress(lines, done, total):
        elapsed = time.time() - started
        sys.stderr.write("  %d lines, %s of %s (%.0f%%), %.0f s\n" % (
            lines, _human(done), _human(total), 100.0 * done / total if total else 100.0, elapsed))

    rotation = dict((key, getattr(args, key)) for key in DEFAULT_ROTATION)
    try:
        report = simulate(args.log, candidates, args.kubernetes_version, rotation, None if args.quiet else progress)
    except (SimulationError, engine.PolicyError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0 if report.input["events"] else 1


if __name__ == "__main__":
    # Only as a command: a module imports this file and never reaches here.
    raise SystemExit(main())
