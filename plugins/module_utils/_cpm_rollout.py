# -*- coding: utf-8 -*-
# Copyright (c) auditops.deckhouse contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Follow Deckhouse's rollout of a control-plane change to every master's kube-apiserver. Pure Python, no
Ansible imports, no API calls: the caller lists the kube-apiserver pods and feeds them to ``Rollout.observe``.

What Deckhouse does (modules/040-control-plane-manager, images/control-plane-manager/controller/converge.go,
hooks/update_approval.go; docs/audit-settings.md):

- On every master the control-plane-manager renders kube-apiserver's manifest with kubeadm into a temporary
  root and computes a SHA-256 over the rendered manifest followed by the content of every file under
  ``/etc/kubernetes/`` the manifest names after ``=`` (sorted), the audit policy file among them.
- It writes that digest into the static pod's annotation ``control-plane-manager.deckhouse.io/checksum`` and
  waits until the mirror pod ``kube-apiserver-<node>`` carries it and is Ready.
- Masters are approved one at a time: the next one starts only when the control-plane-manager pod of the
  current one is Ready again.

The digest covers files that exist only on each master (certificates, keys, kubeadm's render), so it cannot
be computed from outside. What can be told from outside is that a master's pod carries a checksum other than
the one it had before the change and is Ready: that is what ``Rollout`` waits for, per master.
"""

from __future__ import annotations

from ansible_collections.auditops.deckhouse.plugins.module_utils._errors import TextError

CHECKSUM_ANNOTATION = "control-plane-manager.deckhouse.io/checksum"
NAMESPACE = "kube-system"
LABEL_SELECTOR = "component=kube-apiserver"

PENDING = "pending"    # still the checksum from before the change
ROLLING = "rolling"    # a new checksum, not Ready yet
DONE = "done"          # a new checksum and Ready
MISSING = "missing"    # no kube-apiserver pod for this master right now


class RolloutError(TextError):
    """Input that cannot be followed; the message names the field."""


def _ready(pod):
    for condition in ((pod.get("status") or {}).get("conditions") or []):
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def pod_state(pod):
    """``{"node", "name", "checksum", "ready"}`` of one kube-apiserver pod as the API returns it."""
    if not isinstance(pod, dict):
        raise RolloutError("pods: expected Pod objects, got %s" % type(pod).__name__)
    metadata = pod.get("metadata") or {}
    node = (pod.get("spec") or {}).get("nodeName") or ""
    name = metadata.get("name") or ""
    if not node:
        # A mirror pod is named <component>-<node>; without spec.nodeName fall back to the name.
        node = name[len("kube-apiserver-"):] if name.startswith("kube-apiserver-") else name
    return {"node": node, "name": name, "checksum": (metadata.get("annotations") or {}).get(CHECKSUM_ANNOTATION),
            "ready": _ready(pod)}


def checksums(pods):
    """``{node: checksum}`` of the kube-apiserver pods; a pod without the annotation maps to None."""
    out = {}
    for pod in pods or []:
        state = pod_state(pod)
        out[state["node"]] = state["checksum"]
    return out


class Rollout(object):
    """Waits, per master, for a kube-apiserver pod whose checksum differs from ``before`` and that is Ready.

    ``before``: ``{node: checksum}`` read just before the change. ``timeout``: seconds for the whole rollout.
    ``master_timeout``: seconds a master may take, counted from the start or from the moment the previous
    master finished (Deckhouse rolls them one after another), before the rollout counts as stuck."""

    def __init__(self, before, timeout, master_timeout, start):
        if not isinstance(before, dict) or not before:
            raise RolloutError("before: expected the checksums of at least one kube-apiserver pod, got %r" % (before,))
        for name, value in (("timeout", timeout), ("master_timeout", master_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise RolloutError("%s: expected a number of seconds above 0, got %r" % (name, value))
        self.before = dict(before)
        self.timeout, self.master_timeout = timeout, master_timeout
        self.start = self.last_progress = start
        self.masters = {}
        for node in sorted(self.before):
            self.masters[node] = {"node": node, "name": None, "state": PENDING, "before": self.before[node],
                                  "checksum": self.before[node], "ready": None, "since": start, "done_at": None}
        self.order = []      # masters in the order they finished
        self.events = []     # progress lines, oldest first
        self.observations = 0

    def _event(self, now, text):
        line = "%5.1fs %s" % (now - self.start, text)
        self.events.append(line)
        return line

    def observe(self, pods, now):
        """Take one listing of the kube-apiserver pods; returns the progress lines it caused."""
        self.observations += 1
        seen = {}
        for pod in pods or []:
            state = pod_state(pod)
            seen[state["node"]] = state
        lines = []
        for node in sorted(set(self.masters) | set(seen)):
            if node not in self.masters:
                # A master that joined during the rollout is rendered with the new settings from the start.
                self.masters[node] = {"node": node, "name": None, "state": PENDING, "before": None, "checksum": None,
                                      "ready": None, "since": now, "done_at": None}
                lines.append(self._event(now, "%s: new master, it has to come up with the new configuration" % node))
            master = self.masters[node]
            current = seen.get(node)
            if current is None:
                state = MISSING
                master.update(ready=False)
            else:
                master.update(name=current["name"], checksum=current["checksum"], ready=current["ready"])
                changed = current["checksum"] is not None and current["checksum"] != master["before"]
                state = (DONE if current["ready"] else ROLLING) if changed else PENDING
            if state == master["state"]:
                continue
            previous, master["state"], master["since"] = master["state"], state, now
            if state == DONE:
                master["done_at"] = now
                if node in self.order:
                    self.order.remove(node)
                self.order.append(node)
                self.last_progress = now
                lines.append(self._event(now, "%s: kube-apiserver Ready with the new checksum %s (%d of %d masters)"
                                         % (node, _short(master["checksum"]), self.done_count(), len(self.masters))))
            elif state == ROLLING:
                lines.append(self._event(now, "%s: new checksum %s, waiting for kube-apiserver to become Ready"
                                         % (node, _short(master["checksum"]))))
            elif state == MISSING:
                lines.append(self._event(now, "%s: no kube-apiserver pod (was %s)" % (node, previous)))
            else:
                lines.append(self._event(now, "%s: back to the checksum from before the change (was %s)"
                                         % (node, previous)))
        return lines

    def done_count(self):
        return sum(1 for master in self.masters.values() if master["state"] == DONE)

    def finished(self):
        return all(master["state"] == DONE for master in self.masters.values())

    def stuck(self, now):
        """None while the rollout may still finish, else a dict: ``reason`` (``master_timeout`` or ``timeout``),
        ``master`` (the node blamed), ``waiting`` (nodes not done) and ``message``."""
        if self.finished():
            return None
        waiting = sorted(node for node, master in self.masters.items() if master["state"] != DONE)
        rolling = [node for node in waiting if self.masters[node]["state"] in (ROLLING, MISSING)
                   and self.masters[node]["checksum"] != self.masters[node]["before"]]
        overall = now - self.start >= self.timeout
        quiet = now - self.last_progress >= self.master_timeout
        if not overall and not quiet:
            return None
        reason = "timeout" if overall else "master_timeout"
        limit = "%s s for the whole rollout" % _num(self.timeout) if overall else \
            "%s s since %s" % (_num(self.master_timeout), ("master %s finished" % self.order[-1]) if self.order
                               else "the change")
        if rolling:
            node = rolling[0]
            master = self.masters[node]
            blame = ("master %s: its kube-apiserver pod %s has the new checksum %s but has not been Ready for %s s"
                     % (node, master["name"] or "kube-apiserver-" + node, _short(master["checksum"]),
                        _num(now - master["since"]))) if master["state"] == ROLLING else \
                ("master %s: its kube-apiserver pod is gone after the new checksum %s" % (node, _short(master["checksum"])))
        else:
            node = waiting[0]
            blame = ("master %s: its kube-apiserver pod still carries the checksum from before the change (%s); "
                     "Deckhouse has not rendered the new configuration there" % (node, _short(self.masters[node]["before"])))
        done = ", ".join(self.order) or "none"
        message = ("%s (%s; masters done: %s; not done: %s)" % (blame, limit, done, ", ".join(waiting)))
        return {"reason": reason, "master": node, "waiting": waiting, "message": message}

    def result(self, now):
        return {"masters": [dict((key, value) for key, value in self.masters[node].items() if key != "since")
                            for node in sorted(self.masters)],
                "order": list(self.order), "events": list(self.events), "observations": self.observations,
                "elapsed": round(now - self.start, 1)}


def _short(checksum):
    return (checksum[:12] if checksum else "<none>")


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def wait(list_pods, before, timeout, master_timeout, interval, clock, sleep, progress=None):
    """Poll ``list_pods()`` (the pods, or raise IOError/OSError when the API does not answer) until every master
    is done or the rollout is stuck. Returns ``(ok, result)``; ``result`` holds ``failure`` when not ok and
    ``api_errors`` (the last failed listings)."""
    start = clock()
    rollout = Rollout(before, timeout, master_timeout, start)
    api_errors = []
    while True:
        now = clock()
        try:
            pods = list_pods()
            answered = True
        except (IOError, OSError) as exc:
            answered = False
            api_errors = (api_errors + ["%5.1fs %s" % (now - start, exc)])[-5:]
        if answered:
            for line in rollout.observe(pods, now):
                if progress:
                    progress(line)
        now = clock()
        if rollout.finished():
            out = rollout.result(now)
            out["api_errors"] = api_errors
            return True, out
        failure = rollout.stuck(now)
        if failure:
            if not answered:
                failure["message"] += "; the API did not answer the last listing of the pods: %s" % api_errors[-1].strip()
            out = rollout.result(now)
            out.update(failure=failure, api_errors=api_errors)
            return False, out
        sleep(interval)
