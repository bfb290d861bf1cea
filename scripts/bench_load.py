"""Load benchmark of the chat path: `make bench-load` -> docs/benchmarks/load.md.

Drives many concurrent customer conversations through the channel the widget uses
(socket.io, bot/channels/socketio.py, signed chat tokens), with multi-turn flows
that run DB-backed actions (latest invoice, charge explanation, payment status,
payment methods, ticket status, support hours), against three set-ups started the
way `make run` / `make run-prod` start them:

  embedded        one Rasa, one action server, SQLite, in-memory lock store
  production x1   one Rasa replica behind nginx, PostgreSQL, Redis, RabbitMQ
  production x2   two Rasa replicas behind nginx (sticky per conversation)

Two loads per set-up:

  paced   50 conversations, each sending its next message 1 s after the previous
          reply (targets: p95 <= 300 ms, no lost or out-of-order reply, every Rasa
          process <= 1.5 GB)
  ramp    closed loop (next message as soon as the reply is complete) at rising
          concurrency, until p95 passes 1 s: the highest sustained throughput

Latency is from sending `user_uttered` to `bot_done` (the whole reply). A reply is
lost when `bot_done` does not come within --timeout; wrong when it does not match
what that turn must answer (a reply to another message: out of order or crossed);
stray when a bot message arrives while nothing is pending. CPU and memory of every
process of the stack are sampled with psutil once a second.

Uses RASA_MODEL (default models/csp.tar.gz) and the local PostgreSQL, Redis and
RabbitMQ (scratch databases, keys and queues, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import psutil
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.domain.models import Customer  # noqa: E402
from common.identity import mint_customer_token  # noqa: E402
from tests.e2e.stack import MODEL, Stack, start_stack, stop_stack  # noqa: E402
from tests.production.services import (  # noqa: E402
    ScratchServices,
    start_production_stack,
)
from tests.production.widget_client import ChatError, WidgetChat  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "load.md"
RATE_LIMIT_FOR_BENCHMARK = 1_000_000
RAW = ROOT / "build" / "bench" / "load.json"
BUNCH_WINDOW = 0.25  # seconds

INVOICE = r"[DG]\d{9}"
# One conversation: what the customer says, and what the reply must contain.
SCRIPT: list[tuple[str, str]] = [
    ("hello", r"."),
    ("show me my latest invoice", INVOICE),
    ("why is my bill so high?", rf"{INVOICE}|first invoice|previous invoice"),
    ("do I have any overdue invoices", r"overdue|open invoices|paid|Outstanding"),
    ("how can I pay my invoice?", r"accepts|pay"),
    ("what is the status of ticket CSP-000001?", r"CSP-000001|ticket"),
    ("what are your support hours?", r"(?i)hours|support|available"),
]


# --------------------------------------------------------------------------- stats


@dataclass
class RunStats:
    name: str
    conversations: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    lost: int = 0
    wrong: int = 0
    stray: int = 0
    connect_failures: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # monotonic send times
    restarted: list[str] = field(default_factory=list)  # shared services restarted
    processes: dict[str, dict[str, float]] = field(default_factory=dict)
    machine: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    def bunching(self, window: float = BUNCH_WINDOW) -> int:
        """The most messages sent within any `window` seconds: how far the
        conversations moved in step (50 spread evenly over ~1.1 s: ~12)."""
        times = sorted(self.sent_at)
        most = start = 0
        for end, sent in enumerate(times):
            while sent - times[start] > window:
                start += 1
            most = max(most, end - start + 1)
        return most

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "conversations": self.conversations,
            "seconds": round(self.seconds, 1),
            "sent": self.sent,
            "replies": len(self.latencies),
            "throughput": round(self.throughput, 2),
            "p50_ms": round(self.pct(50), 1),
            "p95_ms": round(self.pct(95), 1),
            "p99_ms": round(self.pct(99), 1),
            "lost": self.lost,
            "wrong": self.wrong,
            "stray": self.stray,
            "connect_failures": self.connect_failures,
            "bunching": self.bunching(),
            "wrong_examples": self.wrong_examples,
            "restarted": self.restarted,
            "processes": self.processes,
            "machine": self.machine,
        }


# --------------------------------------------------------------------------- psutil


def role_of(process: psutil.Process) -> Optional[str]:
    """A readable name for a process of the stack, or None to skip it."""
    try:
        cmd = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    line = " ".join(cmd)
    if not cmd or cmd[0] in ("/bin/sh", "sh", "bash", "/bin/bash"):
        return None
    if "rasa run" in line or (len(cmd) > 1 and cmd[1].endswith("/rasa")):
        port = cmd[cmd.index("--port") + 1] if "--port" in cmd else "?"
        return f"rasa:{port}"
    if "actions.server" in line:
        return "actions"
    if "transcripts consume" in line:
        return "transcripts"
    if "csp-desk ready" in line or "csp-desk run" in line or "honcho" in line:
        return None
    if line.endswith("csp-desk serve"):
        return "api"
    if "nginx" in line:
        return "nginx"
    return None


# Processes of the machine's shared services: used by the production profile, and
# by everybody else's work too, so they are reported apart from the stack's own.
SHARED_SERVICES = {
    "postgres": "PostgreSQL",
    "redis-server": "Redis",
    "beam.smp": "RabbitMQ",
}


class Sampler:
    """Samples CPU and RSS of the stack's processes (and the machine) each second."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
        self.machine_cpu: list[float] = []
        self.others: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._procs: dict[int, psutil.Process] = {}
        self.own_pid = os.getpid()

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _run(self) -> None:
        psutil.cpu_percent(None)
        while not self._stop.wait(1.0):
            tree = self._tree()
            tree_pids = {p.pid for p in tree} | {self.own_pid}
            for process in tree:
                role = role_of(process)
                if role is None:
                    continue
                known = self._procs.setdefault(process.pid, process)
                try:
                    cpu = known.cpu_percent(None)
                    rss = known.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
                self.samples.setdefault((role, process.pid), []).append((cpu, rss))
            own = self._procs.setdefault(self.own_pid, psutil.Process(self.own_pid))
            self.samples.setdefault(("load generator", self.own_pid), []).append(
                (own.cpu_percent(None), own.memory_info().rss / 2**20)
            )
            self.machine_cpu.append(psutil.cpu_percent(None))
            # Who else used the CPU (other people's work on a shared machine).
            for process in psutil.process_iter(["pid", "name"]):
                if process.pid in tree_pids:
                    continue
                try:
                    known = self._procs.setdefault(process.pid, process)
                    cpu = known.cpu_percent(None)
                except psutil.Error:
                    continue
                if cpu > 0:
                    name = process.info["name"] or str(process.pid)
                    if name in SHARED_SERVICES:
                        name = f"{SHARED_SERVICES[name]} (shared service)"
                    self.others[name] = self.others.get(name, 0.0) + cpu

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        self._stop.set()
        self._thread.join()
        per_role: dict[str, dict[str, float]] = {}
        for (role, pid), values in sorted(self.samples.items()):
            if not values:
                continue
            cpus = [c for c, _ in values[1:]] or [0.0]  # the first is always 0
            entry = {
                "cpu_mean_pct": round(statistics.fmean(cpus), 1),
                "cpu_max_pct": round(max(cpus), 1),
                "rss_peak_mb": round(max(r for _, r in values), 0),
            }
            key = role if role not in per_role else f"{role} (pid {pid})"
            per_role[key] = entry
        seconds = max(1, len(self.machine_cpu))
        top_others = sorted(self.others.items(), key=lambda kv: -kv[1])[:6]
        machine = {
            "cpu_mean_pct": round(statistics.fmean(self.machine_cpu or [0.0]), 1),
            **{
                f"other:{name}": round(total / seconds, 1)
                for name, total in top_others
                if total / seconds >= 1.0
            },
        }
        return per_role, machine


# --------------------------------------------------------------------------- load


def tokens_for(stack: Stack) -> list[str]:
    engine = create_engine(stack.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            customers = list(session.scalars(select(Customer).order_by(Customer.id)))
            pairs = [(c.tenant_id, c.domain) for c in customers]
    finally:
        engine.dispose()
    return [
        mint_customer_token(
            stack.env["CHAT_TOKEN_SECRET"],
            tenant_id=tenant,
            user_id=f"admin@{domain}",
            ttl_seconds=4 * 3600,
        )
        for tenant, domain in pairs
    ]


async def conversation(
    url: str,
    token: str,
    stats: RunStats,
    *,
    deadline: float,
    pause: float,
    timeout: float,
    offset: int,
    measuring: Callable[[], bool],
) -> None:
    chat = WidgetChat(url, token)
    try:
        await chat.connect(timeout=timeout)
    except ChatError:
        stats.connect_failures += 1
        return
    turn = offset
    try:
        while time.monotonic() < deadline:
            text, expect = SCRIPT[turn % len(SCRIPT)]
            turn += 1
            counted = measuring()
            sent_at = time.monotonic()
            reply = await chat.say(text, timeout=timeout)
            if counted:
                stats.sent += 1
                stats.sent_at.append(sent_at)
                if not reply.complete or not reply.texts:
                    stats.lost += 1
                elif not re.search(expect, "\n".join(reply.texts)):
                    stats.wrong += 1
                    if len(stats.wrong_examples) < 5:
                        said = " / ".join(reply.texts)[:200]
                        stats.wrong_examples.append(f"{text!r} -> {said!r}")
                else:
                    stats.latencies.append(reply.seconds)
            if not reply.complete:
                break  # the conversation is out of step; stop it
            if pause:
                await asyncio.sleep(pause)
    finally:
        stats.stray += chat.stray
        await chat.close()


async def run_load(
    url: str,
    tokens: list[str],
    stats: RunStats,
    *,
    seconds: float,
    warmup: float,
    pause: float,
    timeout: float,
) -> None:
    start = time.monotonic()
    measure_from = start + warmup
    deadline = measure_from + seconds
    tasks = []
    for i in range(stats.conversations):
        tasks.append(
            asyncio.create_task(
                conversation(
                    url,
                    tokens[i % len(tokens)],
                    stats,
                    deadline=deadline,
                    pause=pause,
                    timeout=timeout,
                    offset=random.randrange(len(SCRIPT)),
                    measuring=lambda: time.monotonic() >= measure_from,
                )
            )
        )
        await asyncio.sleep(min(0.05, warmup / max(1, stats.conversations)))
    await asyncio.gather(*tasks)
    stats.seconds = time.monotonic() - measure_from


def restarted(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The shared services whose start time moved (or that did not answer)."""
    changed = []
    for name, start in before.items():
        end = after.get(name, "")
        if not start or not end:
            changed.append(name)
        elif name == "redis":
            if abs(int(start) - int(end)) > 5:  # uptime-based: a second of jitter
                changed.append(name)
        elif start != end:
            changed.append(name)
    return changed


WATCH = ScratchServices()  # only to read when the shared services started


def measured(
    stack: Stack, tokens: list[str], name: str, conversations: int, **load: Any
) -> RunStats:
    stats = RunStats(name=name, conversations=conversations)
    assert stack.process is not None
    sampler = Sampler(stack.process.pid)
    before = WATCH.started_at()
    sampler.start()
    try:
        asyncio.run(run_load(stack.rasa_url, tokens, stats, **load))
    finally:
        stats.processes, stats.machine = sampler.stop()
        stats.restarted = restarted(before, WATCH.started_at())
    print(
        f"  {name}: {stats.throughput:.1f} msg/s, p50 {stats.pct(50):.0f} ms, "
        f"p95 {stats.pct(95):.0f} ms, p99 {stats.pct(99):.0f} ms, lost {stats.lost}, "
        f"wrong {stats.wrong}, stray {stats.stray}, "
        f"connect failures {stats.connect_failures}"
        + (f"; restarted meanwhile: {stats.restarted}" if stats.restarted else ""),
        flush=True,
    )
    return stats


def bench_profile(stack: Stack, label: str, args: argparse.Namespace) -> dict[str, Any]:
    tokens = tokens_for(stack)
    # Warm up: every action and the NLU once, outside the measurement.
    measured(
        stack, tokens, f"{label} warm-up", 4, seconds=5, warmup=0, pause=0, timeout=60
    )
    paced = measured(
        stack,
        tokens,
        f"{label} paced",
        args.paced_conversations,
        seconds=args.paced_seconds,
        warmup=3.0,
        pause=1.0,
        timeout=args.timeout,
    )
    ramp: list[RunStats] = []
    for level in args.ramp:
        step = measured(
            stack,
            tokens,
            f"{label} closed loop x{level}",
            level,
            seconds=args.ramp_seconds,
            warmup=3.0,
            pause=0.0,
            timeout=args.timeout,
        )
        ramp.append(step)
        if step.pct(95) > 1000 or step.lost:
            break
    return {
        "label": label,
        "paced": paced.summary(),
        "ramp": [s.summary() for s in ramp],
    }


# --------------------------------------------------------------------------- report


def best_sustained(ramp: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    ok = [
        r for r in ramp if r["p95_ms"] <= 1000 and not r["lost"] and not r["restarted"]
    ]
    return max(ok, key=lambda r: r["throughput"]) if ok else None


def rasa_cpu_ms(run: dict[str, Any]) -> float:
    """CPU time all Rasa processes spent per reply (ms), from the mean CPU %."""
    cores = sum(
        v["cpu_mean_pct"] for k, v in run["processes"].items() if k.startswith("rasa")
    )
    return cores / 100 / run["throughput"] * 1000 if run["throughput"] else float("nan")


def replica_share(results: list[dict[str, Any]]) -> str:
    """', where each of N replicas got X % of a core' for the largest set-up."""
    several = [r for r in results if r["label"].startswith("production ×")]
    if not several:
        return ""
    last = several[-1]
    shares = [
        v["cpu_mean_pct"]
        for k, v in last["paced"]["processes"].items()
        if k.startswith("rasa")
    ]
    if len(shares) < 2:
        return ""
    return (
        f": in {last['label']}, paced, the Rasa processes got "
        + " and ".join(f"{share:.0f} %" for share in shares)
        + " of a core"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Load benchmark: the chat path under concurrent conversations",
        "",
        "`make bench-load` (scripts/bench_load.py) wrote this file on "
        f"{meta['date']} in {meta['minutes']:.0f} minutes. Every number below is "
        "from one run on this machine: "
        f"{meta['cpus']} CPU cores, {meta['memory_gb']:.0f} GB RAM, {meta['python']}.",
        "",
        "Each conversation is a customer signed in with a chat token, talking over "
        "socket.io exactly as the widget does (websocket transport, `?conversation=` "
        "routing key, `session_request`, `user_uttered` → `bot_uttered`… `bot_done`), "
        "through nginx in the production profile. It cycles through "
        f"{len(SCRIPT)} turns that hit the NLU, the dialogue policies and DB-backed "
        "actions: " + "; ".join(f"“{t}”" for t, _ in SCRIPT) + ". Latency is from "
        "sending a message to `bot_done` (the whole reply). A reply is *lost* when "
        "`bot_done` does not arrive within "
        f"{meta['timeout']:.0f} s, *wrong* when it does not answer the turn it "
        "follows (out of order or crossed), *stray* when a bot message arrives "
        "with nothing pending.",
        "",
        "Set-ups (started as `make run` / `make run-prod` start them, `csp-desk run`):",
        "",
        "- **embedded**: one Rasa, one action server, the API; SQLite tracker store "
        "and database, in-memory lock store; the client talks to Rasa directly.",
        "- **production ×N**: N Rasa replicas behind nginx (hash on the routing "
        "key), PostgreSQL tracker store and database, Redis lock store, RabbitMQ "
        "event broker feeding the transcript consumer, the action server with 2 "
        "workers.",
        "",
        "The load generator (python-socketio clients, one asyncio loop) runs on the "
        "same machine and competes with the stack for the same cores. The channels' "
        "per-conversation rate limit (`CHAT_RATE_LIMIT_*`, 20 messages a minute) is "
        "lifted for the benchmark's stacks: the paced load sends a message a second "
        "per conversation, far more than the limit lets one person send.",
        "",
        f"## Paced load: {meta['paced_conversations']} conversations, next message "
        "1 s after each reply",
        "",
        f"Measured for {meta['paced_seconds']:.0f} s after a 3 s ramp-up.",
        "",
        "| set-up | msg/s | p50 ms | p95 ms | p99 ms | lost | wrong | stray | "
        "largest Rasa RSS MB | Rasa CPU ms per message | most sent in 250 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        paced = result["paced"]
        rasa_rss = max(
            (
                v["rss_peak_mb"]
                for k, v in paced["processes"].items()
                if k.startswith("rasa")
            ),
            default=float("nan"),
        )
        result["rasa_rss"] = rasa_rss
        result["rasa_cpu_ms"] = rasa_cpu_ms(paced)
        lines.append(
            f"| {result['label']} | {paced['throughput']:.1f} | {paced['p50_ms']:.0f} | "
            f"{paced['p95_ms']:.0f} | {paced['p99_ms']:.0f} | {paced['lost']} | "
            f"{paced['wrong']} | {paced['stray']} | {rasa_rss:.0f} | "
            f"{result['rasa_cpu_ms']:.0f} | {paced.get('bunching', '-')} |"
        )
    for result in results:
        if result["paced"]["restarted"]:
            lines.append(
                f"\n{result['label']}, paced: **{', '.join(result['paced']['restarted'])} "
                "restarted during the measurement** (other people's fault tests on "
                "the shared services); its numbers include that outage."
            )
    lines += [
        "",
        "Targets at this load, per set-up: p95 ≤ 300 ms; zero lost or out-of-order "
        "replies; each Rasa process ≤ 1.5 GB.",
        "",
        "| set-up | p95 ≤ 300 ms | no lost/wrong/stray reply | Rasa ≤ 1.5 GB |",
        "|---|---|---|---|",
    ]
    for result in results:
        paced = result["paced"]
        clean = not (paced["lost"] or paced["wrong"] or paced["stray"])
        lines.append(
            f"| {result['label']} | {verdict(paced['p95_ms'] <= 300)} "
            f"({paced['p95_ms']:.0f} ms) | {verdict(clean)} | "
            f"{verdict(result['rasa_rss'] <= 1536)} ({result['rasa_rss']:.0f} MB) |"
        )
    lines += [
        "",
        "## Highest sustained throughput (closed loop, no pause)",
        "",
        "Each step runs its conversations back to back (the next message as soon as "
        f"the reply is complete) for {meta['ramp_seconds']:.0f} s after a 3 s "
        "ramp-up; the ramp stops at the first step whose p95 passes 1 s.",
        "",
        "| set-up | conversations | msg/s | p50 ms | p95 ms | p99 ms | lost | wrong "
        "| services restarted meanwhile |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for step in result["ramp"]:
            lines.append(
                f"| {result['label']} | {step['conversations']} | "
                f"{step['throughput']:.1f} | {step['p50_ms']:.0f} | "
                f"{step['p95_ms']:.0f} | {step['p99_ms']:.0f} | {step['lost']} | "
                f"{step['wrong']} | {', '.join(step['restarted']) or '-'} |"
            )
    lines += [
        "",
        "Best step with p95 ≤ 1 s, nothing lost and no shared service restarted:",
        "",
    ]
    base: Optional[float] = None
    for result in results:
        best = best_sustained(result["ramp"])
        if best is None:
            lines.append(f"- {result['label']}: no step stayed under 1 s.")
            continue
        if base is None and result["label"] == "embedded":
            base = best["throughput"]
        ratio = f", ×{best['throughput'] / base:.2f} of embedded" if base else ""
        lines.append(
            f"- {result['label']}: **{best['throughput']:.1f} msg/s** at "
            f"{best['conversations']} conversations (p95 {best['p95_ms']:.0f} ms"
            f"{ratio})."
        )
    embedded = next((r for r in results if r["label"] == "embedded"), None)
    if embedded is not None:
        paced = embedded["paced"]
        ms = embedded["rasa_cpu_ms"]
        offered = meta["paced_conversations"] / 1.3  # 1 s pause + a ~300 ms reply
        lines += [
            "",
            "## Reading the numbers",
            "",
            f"- One Rasa process spent about **{ms:.0f} ms of CPU per reply** "
            "(embedded, paced: NLU with the spaCy pipeline and the sentence encoder, "
            "policies, tracker store), so it tops out near "
            f"{1000 / ms:.0f} replies per second per core. "
            f"{meta['paced_conversations']} conversations pausing 1 s between a "
            f"reply and the next message offer about {offered:.0f} messages per "
            "second when replies take 300 ms, which needs about "
            f"{offered * ms / 1000:.1f} cores for Rasa alone, before the action "
            "server, PostgreSQL, nginx and the load generator, on a machine with "
            f"{meta['cpus']} cores shared with other work. The queueing is what "
            "pushes p95 up"
            + (
                "; no reply was lost or out of order."
                if not any(
                    r["paced"]["lost"] or r["paced"]["wrong"] or r["paced"]["stray"]
                    for r in results
                )
                else "."
            ),
            "- Paced conversations tend to move in step: with the same 1 s pause "
            "after every reply, messages answered together come back together a "
            "second later, and if Rasa interleaves them all, each waits for the CPU "
            "of the whole wave (about "
            f"{0.95 * meta['paced_conversations']:.0f} messages × {ms:.0f} ms of "
            f"Rasa CPU ≈ {0.95 * meta['paced_conversations'] * ms:.0f} ms on one "
            "process). Each Rasa process therefore works on a few messages at a "
            "time (`RASA_MAX_CONCURRENT_MESSAGES`, default 2) and takes the others "
            "in arrival order (bot/channels/inbound.py), which spreads the replies "
            "and so the next messages: at most "
            + ", ".join(
                f"{r['paced'].get('bunching', '-')} ({r['label']})" for r in results
            )
            + f" of the {meta['paced_conversations']} conversations sent their "
            f"message within the same {BUNCH_WINDOW * 1000:.0f} ms here; spread "
            "evenly they would be about "
            f"{meta['paced_conversations'] * BUNCH_WINDOW / 1.1:.0f}, and without "
            "the gate they were 37-44 (docs/production.md, 'Taking messages in "
            "turn').",
            f"- The paced run reached {paced['throughput']:.1f} msg/s embedded: "
            "that is the capacity of this machine at that moment, not of the design. "
            "Replicas are separate processes, so the production profile scales with "
            "cores (or pods), which this machine does not have to give"
            + replica_share(results)
            + ".",
            "- Memory: "
            + ", ".join(f"{r['label']} {r['rasa_rss']:.0f} MB" for r in results)
            + " at most per Rasa process, against the 1.5 GB target.",
        ]
    lines += [
        "",
        "## CPU and memory per process",
        "",
        "psutil, sampled each second; CPU in % of one core (mean / max), RSS peak.",
        "",
        "| set-up, load | process | CPU mean % | CPU max % | RSS peak MB |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        runs = [("paced", result["paced"])]
        best = best_sustained(result["ramp"])
        if best is not None:
            runs.append((f"closed loop x{best['conversations']}", best))
        for name, run in runs:
            for process, values in run["processes"].items():
                lines.append(
                    f"| {result['label']}, {name} | {process} | "
                    f"{values['cpu_mean_pct']:.0f} | {values['cpu_max_pct']:.0f} | "
                    f"{values['rss_peak_mb']:.0f} |"
                )
    lines += [
        "",
        "## The machine during the run",
        "",
        "Whole-machine CPU (% of all cores), and the processes outside the stack "
        "that used at least 1 % of a core on average (name: mean % of one core): "
        "the shared services (which the production profile uses, as do other "
        "people's tests) and other people's work (`rasa`, `python`, `pytest`: "
        "other engineers' tests and experiments on the same machine).",
        "",
    ]
    for result in results:
        for run in [result["paced"], *result["ramp"]]:
            machine = run["machine"]
            others = ", ".join(
                f"{k[6:]}: {v:.0f} %"
                for k, v in machine.items()
                if k.startswith("other:")
            )
            lines.append(
                f"- {run['name']}: machine CPU {machine['cpu_mean_pct']:.0f} %"
                + (f"; others: {others}" if others else "; no other load seen")
            )
    lines += ["", meta["notes"], ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paced-conversations", type=int, default=50)
    parser.add_argument("--paced-seconds", type=float, default=45.0)
    parser.add_argument(
        "--ramp",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[4, 8, 16, 32, 64],
    )
    parser.add_argument("--ramp-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--profiles",
        default="embedded,production1,production2",
        help="comma-separated: embedded, production1, production2",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--notes", default="", help="a paragraph added to the report")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help=f"rewrite the report from the last run's raw numbers ({RAW.name})",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        raw = json.loads(RAW.read_text())
        if args.notes:
            raw["meta"]["notes"] = args.notes
        args.out.write_text(report(raw["results"], raw["meta"]))
        print(f"bench-load: rewrote {args.out} from {RAW}")
        return 0
    if not MODEL.exists():
        print(f"no trained model at {MODEL}; run `make train`", file=sys.stderr)
        return 1
    # The channels hold back a conversation that sends faster than a person types
    # (CHAT_RATE_LIMIT_*, common/channels.py); this benchmark measures capacity
    # with a message a second per conversation, so the limit is lifted for its stacks.
    for name in ("CHAT_RATE_LIMIT_MESSAGES", "CHAT_RATE_LIMIT_BURST"):
        os.environ.setdefault(name, str(RATE_LIMIT_FOR_BENCHMARK))
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for profile in args.profiles.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-load-{profile}-"))
        services: Optional[ScratchServices] = None
        print(f"bench-load: starting {profile} ...", flush=True)
        try:
            if profile == "embedded":
                stack = start_stack(workdir)
                label = "embedded"
            else:
                replicas = int(profile.removeprefix("production") or "2")
                services = ScratchServices()
                services.create()
                stack = start_production_stack(workdir, services, replicas=replicas)
                label = f"production ×{replicas}"
        except Exception as exc:
            failures.append(f"{profile} did not start: {exc}")
            print(f"bench-load: {failures[-1]}", flush=True)
            if services is not None:
                services.drop()
            continue
        try:
            results.append(bench_profile(stack, label, args))
        except Exception as exc:
            failures.append(f"{profile} failed during the load: {exc!r}")
            print(f"bench-load: {failures[-1]}", flush=True)
        finally:
            stop_stack(stack)
            if services is not None:
                services.drop()
        write(args, results, failures, started)
    write(args, results, failures, started)
    return 1 if failures else 0


def write(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    failures: list[str],
    started: float,
) -> None:
    notes = args.notes
    if failures:
        notes += "\n\nNot measured: " + "; ".join(failures) + "."
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": (time.monotonic() - started) / 60,
        "cpus": psutil.cpu_count(),
        "memory_gb": psutil.virtual_memory().total / 2**30,
        "python": f"Python {platform.python_version()}",
        "timeout": args.timeout,
        "paced_conversations": args.paced_conversations,
        "paced_seconds": args.paced_seconds,
        "ramp_seconds": args.ramp_seconds,
        "notes": notes.strip(),
    }
    RAW.parent.mkdir(parents=True, exist_ok=True)
    RAW.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    args.out.write_text(report(results, meta))
    print(f"bench-load: wrote {args.out} (raw numbers: {RAW})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
