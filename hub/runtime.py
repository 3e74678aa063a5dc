"""The hub assembled: plugins, connectors, database, ingress writer, workers.

:class:`Hub` is what ``returnhub serve`` and ``returnhub worker`` run, and what tests start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp

from hub.alerts.evaluator import AlertEvaluator
from hub.alerts.notify import Notifier
from hub.assembly import former_names, validate_connectors
from hub.campaigns.planner import CampaignPlanner
from hub.config import ConfigError, ProviderPolicy, SourcePolicy
from hub.content.composer import Composer
from hub.content.live import TemplateLibrary
from hub.context import ConnectorContext
from hub.delivery.dispatcher import Dispatcher
from hub.delivery.health import ProviderHealthBoard
from hub.delivery.promotional import PromotionalPolicy
from hub.delivery.ratelimit import TokenBucket
from hub.delivery.receipts import ReceiptRecorder
from hub.delivery.router import Router
from hub.domain.planner import Planner
from hub.keys import load_cipher, load_portal_key
from hub.logs import get_logger, mask_secrets_of
from hub.netguard import guarded_session, parse_networks
from hub.notifiable import NoticeGate
from hub.plugin_hooks import run_shutdown, run_startup
from hub.plugins import PluginError, collect_connectors, get_plugin_manager
from hub.portal.sink import PortalSink
from hub.portal_links import portal_url
from hub.processing.applier import BatchApplier
from hub.processing.dryrun import RulesService
from hub.processing.matching import IdentityResolver
from hub.processing.poller import SourcePoller
from hub.processing.privacy import PrivacyHandler
from hub.processing.upstream_actions import ActionRunner
from hub.processing.worker import InboxProcessor
from hub.recipients import AddressBook
from hub.rules import RuleEngine, RuleError
from hub.store.codec import EventCodec
from hub.store.engine import make_engine, make_sessionmaker
from hub.store.handoff import Handoff
from hub.store.inbox import InboxWriter
from hub.store.migrate import upgrade
from hub.store.plugin_state import DatabaseState, namespace_of
from hub.store.template_store import TemplateStore
from hub.stranded_work import stranded_in

if TYPE_CHECKING:
    import pluggy

    from hub.assembly import ConnectorSpec
    from hub.config import Settings
    from hub.connectors import Connector, Sink, Source

log = get_logger("hub.runtime")
#: How long a stopping hub lets the processor and the dispatcher finish their pass.
_STOP_GRACE_SECONDS = 10.0


def node_name() -> str:
    """This process's lease owner name: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Hub:
    """One Returnhub process. Build with :meth:`Hub.build` (validates everything, no I/O), then
    ``await hub.start()`` and ``await hub.stop()``."""

    def __init__(self, settings: Settings, pm: pluggy.PluginManager) -> None:
        self.settings = settings
        mask_secrets_of(settings)  # the hub's own keys; connectors' in validate_connectors
        self.actions: ActionRunner | None = None
        self.pm = pm
        self.registry = collect_connectors(pm)
        self.specs = validate_connectors(settings, self.registry)
        self.cipher = load_cipher(settings)
        self.portal_key = load_portal_key(settings)
        self.codec = EventCodec(self.cipher)
        self.engine = make_engine(settings.database_url,
                                  synchronous=settings.database.sqlite_synchronous,
                                  pool_size=settings.database.pool_size,
                                  echo=settings.database.echo,
                                  statement_timeout=settings.database.statement_timeout_seconds)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.owner = node_name()
        self.public_url = settings.server.base_url()
        self.http: aiohttp.ClientSession | None = None
        self.sources: dict[str, Source] = {}
        self.sinks: dict[str, Sink] = {}
        #: A renamed sink's former names -> its name now (``formerly``).
        self.former_names = former_names(self.specs)
        self.planner = Planner(settings.notifications, self.cipher,
                               AddressBook.from_specs(settings, self.specs))
        #: Whether an event may notify: shared by the applier and the rules' dry run.
        self.gate = NoticeGate(settings.notifications, {
            name: spec.policy for name, spec in self.specs.items()
            if isinstance(spec.policy, SourcePolicy)})
        #: The rules stage; ``hub.rules.dry_run(event)`` shows what an event would do.
        try:
            engine = RuleEngine(settings.rules)
        except RuleError as exc:
            raise ConfigError(exc.problems) from None
        self.rules = RulesService(engine, self.sessionmaker, self.planner, self.codec,
                                  gate=self.gate)
        #: The templates in use, replaced when they change on disk or through the admin API.
        self.templates = TemplateLibrary(settings, pm, TemplateStore(self.sessionmaker))
        self.renderer = self.templates
        self.receipts = ReceiptRecorder(self.codec, self.planner, self.former_names)
        self.health = ProviderHealthBoard(self.specs, self.sessionmaker, self.owner)
        #: Per-source webhook rate limits (``rate_limit_per_second`` in ``[sources.<name>]``).
        self.ingress_buckets = {
            name: TokenBucket(spec.policy.rate_limit_per_second, spec.policy.rate_limit_burst)
            for name, spec in self.specs.items()
            if isinstance(spec.policy, SourcePolicy) and spec.policy.rate_limit_per_second}
        self.processor: InboxProcessor | None = None
        #: The alert evaluator of a worker node with ``[[alerts.rules]]`` (hub.alerts).
        self.alerts: AlertEvaluator | None = None
        self.dispatcher: Dispatcher | None = None
        self.composer: Composer | None = None
        self.campaigns: CampaignPlanner | None = None
        self.inbox = InboxWriter(self.sessionmaker, self.codec, on_new=self._wake_processor)
        self._tasks: list[asyncio.Task] = []
        self._started_connectors: list[Connector] = []

    @classmethod
    def build(cls, settings: Settings, pm: pluggy.PluginManager | None = None) -> Hub:
        """Validate plugins and config; raises ConfigError / PluginError listing problems."""
        return cls(settings, pm or get_plugin_manager(disabled=settings.plugins.disabled))

    def _wake_processor(self) -> None:
        if self.processor is not None:
            self.processor.wake.set()

    def _wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake.set()

    async def start(self, *, workers: bool = True, ingress: bool = True,
                    migrate: bool = True) -> None:
        """Migrate, start connectors, the inbox writer and (optionally) the workers."""
        if migrate:
            await upgrade(self.engine)
        await self.templates.start()
        sink_names = {*self.settings.sinks, *self.former_names}
        for line in await stranded_in(self.sessionmaker, self.settings, sink_names,
                                      self.templates.has):
            log.warning("stored_work_stranded", problem=line)
        self.http = guarded_session(parse_networks(self.settings.security.outbound_allow),
                                    timeout=aiohttp.ClientTimeout(total=30))
        try:
            await self._start_connectors()
        except BaseException:  # a connector that cannot start: close what did, then say why
            await self._close_connectors()
            raise
        # Pollers write to the inbox too, so worker-only nodes start it as well.
        await self.inbox.start()
        try:  # before any work: a plugin that refuses to start has seen nothing happen
            await run_startup(self.pm, self.settings)
        except PluginError:
            await self.stop()
            raise
        if workers:
            self._start_workers()
            self._start_pollers()
        # The database named (password masked): a hub pointed at a fresh, empty database by
        # mistake started without a word of which one (found from outside).
        log.info("hub_started", node=self.owner, workers=workers, ingress=ingress,
                 sources=sorted(self.sources), sinks=sorted(self.sinks),
                 database=self.engine.url.render_as_string(hide_password=True))

    def sink_named(self, name: str) -> Sink | None:
        """The sink called ``name`` now, or once (``formerly``), if any."""
        return self.sinks.get(name) or self.sinks.get(self.former_names.get(name, ""))

    def context_for(self, spec: ConnectorSpec) -> ConnectorContext:
        """What the connector instance ``spec`` gets: the shared session, its logger, settings
        and state (stored by the core, encrypted); never the database or the cipher."""
        return ConnectorContext(
            spec.name, http=self.http, public_url=self.public_url,
            data_dir=self.settings.data_dir / "connectors" / spec.name,
            log=get_logger(f"connector.{spec.name}", connector=spec.name),
            settings=spec.config,
            state=DatabaseState(self.sessionmaker, self.cipher,
                                namespace_of(spec.cls.type, spec.name)))

    def build_workers(self) -> None:
        """Create the inbox processor and the dispatcher without running them."""
        worker = self.settings.worker
        buckets = {name: TokenBucket(spec.policy.rate_limit_per_second)
                   for name, spec in self.specs.items()
                   if isinstance(spec.policy, ProviderPolicy)
                   and spec.policy.rate_limit_per_second}
        router = Router(self.sinks, self.settings.channels, timeout=worker.send_timeout_seconds,
                        public_url=self.public_url, breakers=self.health.breakers,
                        buckets=buckets, former_names=self.former_names)
        promotional = PromotionalPolicy(
            self.sessionmaker, self.settings.notifications, self.portal_key, self.public_url)
        self.composer = Composer(self.renderer, self.settings.notifications, self.codec,
                                 portal_link=self.portal_link, promotional=promotional)
        self.dispatcher = Dispatcher(self.sessionmaker, self.composer, router, self.planner,
                                     worker, self.owner,
                                     campaign_share=self.settings.campaigns.share)
        self.campaigns = CampaignPlanner(self.sessionmaker, self.codec, self.planner,
                                         self.settings.campaigns)
        self.dispatcher.promotional = promotional
        self.dispatcher.before_render = self.templates.refresh
        applier = BatchApplier(self.codec, self.planner, self.rules.engine, gate=self.gate,
                               identity=IdentityResolver({
                                   name: spec.policy.identity_rules()
                                   for name, spec in self.specs.items()
                                   if isinstance(spec.policy, SourcePolicy)}))
        # What this process stores and plans, it works on from memory (hub.store.handoff).
        applier.dispatch, applier.dispatchable = (self.dispatcher.handoff,
                                                  self.dispatcher.takes_planned)
        self.processor = InboxProcessor(
            self.sessionmaker, self.codec, applier, PrivacyHandler(self.codec), self.sources,
            worker, self.owner, on_planned=self._wake_dispatcher)
        self.processor.handoff = self.inbox.handoff = Handoff(
            self.owner, worker.lease_seconds, capacity=4 * worker.batch_size,
            claim_interval=worker.idle_poll_seconds)
        self.actions = ActionRunner(self.sessionmaker, self.sources, self.http, worker,
                                    self.owner)
        alerts = self.settings.alerts
        if alerts.rules:
            notifier = Notifier(alerts, self.http, router,
                                self.settings.notifications.brand.from_email)
            self.alerts = AlertEvaluator(alerts, self.sessionmaker, notifier, self.owner,
                                         sorted(self.sources), self.public_url)

    def portal_link(self, source: str, reference: str, issued_at: datetime) -> str:
        """The signed link to a return's portal page, valid for ``portal.link_ttl_days`` from
        ``issued_at`` (a message's creation time, so a message renders the same every time)."""
        return portal_url(self.public_url, self.portal_key, source, reference, issued_at,
                          self.settings.portal.link_ttl_days)

    def _start_workers(self) -> None:
        self.build_workers()
        self._tasks = [asyncio.create_task(self.processor.run(), name="inbox-processor"),
                       asyncio.create_task(self._run_dispatcher(), name="dispatcher"),
                       asyncio.create_task(self.actions.run(), name="rule-actions"),
                       asyncio.create_task(self.campaigns.run(), name="campaign-planner")]
        if self.alerts is not None:
            self._tasks.append(asyncio.create_task(self.alerts.run(), name="alerts"))

    def _start_pollers(self) -> None:
        for name, source in self.sources.items():
            policy = self.specs[name].policy
            interval = getattr(policy, "poll_interval_seconds", None)
            if interval and source.poll(None) is not None:
                poller = SourcePoller(source, interval, self.sessionmaker, self.inbox, self.owner,
                                      onboarding=self.gate.policy(name))
                self._tasks.append(asyncio.create_task(poller.run(), name=f"poll-{name}"))

    async def _run_dispatcher(self) -> None:
        await self.dispatcher.start()
        await self.dispatcher.run()

    async def drain(self) -> None:
        """Process and deliver everything that is ready now (tests and ``simulate``)."""
        await self.processor.drain()
        while await self.actions.run_once():
            pass
        await self.dispatcher.drain()

    async def stop(self) -> None:
        """Stop accepting work, finish what is in flight, close everything."""
        # The processor and the dispatcher finish their pass and leave, so that what a pass
        # leased is applied, sent or given back (the stages below); the rest is cancelled.
        finishing = [task for task in self._tasks
                     if task.get_name() in ("inbox-processor", "dispatcher")]
        for worker in (self.processor, self.dispatcher):
            if worker is not None and finishing:
                worker.request_stop()
        for task in self._tasks:
            if task not in finishing:
                task.cancel()
        if finishing:
            await asyncio.wait(finishing, timeout=_STOP_GRACE_SECONDS)
        for task in self._tasks:
            task.cancel()  # a pass still running after the grace (a hung enrichment)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.inbox.stop()
        if self.processor is not None:  # after the inbox's last commit: nothing more comes
            await self.processor.release_handed()
        await self.health.flush()
        await run_shutdown(self.pm)
        await self._close_connectors()
        await self.engine.dispose()

    async def _start_connectors(self) -> None:
        for name, spec in self.specs.items():
            connector = spec.cls(spec.config, self.context_for(spec))
            if isinstance(connector, PortalSink):  # core code: it writes the core's own table
                connector.bind_store(self.sessionmaker, self.cipher)
            await connector.start()
            self._started_connectors.append(connector)
            (self.sources if spec.kind == "sources" else self.sinks)[name] = connector

    async def _close_connectors(self) -> None:
        for connector in reversed(self._started_connectors):
            try:
                await connector.close()
            except Exception as exc:
                log.warning("connector_close_failed", connector=connector.name, error=str(exc))
        self._started_connectors = []
        if self.http is not None:
            await self.http.close()
