"""Validates rendered Kubernetes manifests (one file per kustomization, from
scripts/check-deploy) against the bundled Kubernetes schemas, strictly, and enforces the
rules a notes-service deployment must keep. Offline. Prints each problem; exits 1 if any."""

import sys

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

# The oldest Kubernetes the assets support and the newest the validator knows.
VERSIONS = ["1.30.0", "1.37.0"]
# Custom resources with no bundled schema: checked by hand below.
CUSTOM = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# The service's production defaults (config/), for settings a ConfigMap leaves out.
DEFAULTS = {
    "APP__SERVER__DRAIN_SECONDS": 10,
    "APP__SERVER__SHUTDOWN_GRACE_SECONDS": 30,
    "APP__SERVER__REQUEST_TIMEOUT_SECONDS": 10,
    "APP__JOBS__WORKERS": 4,
    "APP__JOBS__LEASE_SECONDS": 60,
}
# What a job worker Deployment's container runs (deploy/components/worker).
WORKER_COMMAND = ["notes-service", "worker"]


class Checker:
    def __init__(self, name, resources):
        self.name, self.resources, self.problems = name, resources, []

    def problem(self, message):
        self.problems.append(message)

    def of_kind(self, kind):
        return [r for r in self.resources if r.get("kind") == kind]

    def validate_schemas(self):
        for resource in self.resources:
            key = (resource.get("apiVersion"), resource.get("kind"))
            what = f"{key[1]}/{resource.get('metadata', {}).get('name')}"
            if key in CUSTOM:
                self.check_custom_shape(resource, what)
                continue
            for version in VERSIONS:
                try:
                    kubernetes_validate.validate(resource, version, strict=True)
                except SchemaNotFoundError:
                    self.problem(f"{what}: no Kubernetes {version} schema for {key[0]} {key[1]}")
                except kubernetes_validate.ValidationError as error:
                    path = ".".join(str(p) for p in error.path)
                    self.problem(f"{what}: invalid for Kubernetes {version} at {path}: {error.message}")

    def check_custom_shape(self, resource, what):
        extra = set(resource) - {"apiVersion", "kind", "metadata", "spec"}
        if extra:
            self.problem(f"{what}: unexpected top-level fields {sorted(extra)}")
        spec = resource.get("spec") or {}
        if not isinstance(spec.get("selector", {}).get("matchLabels"), dict):
            self.problem(f"{what}: spec.selector.matchLabels is required")
        endpoints = spec.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            self.problem(f"{what}: spec.endpoints must list at least one endpoint")

    # ---- The rules.

    def check_rules(self):
        workers, apis = [], []
        for deployment in self.of_kind("Deployment"):
            app = self.app_container(deployment)
            if app is None:
                self.problem(f"Deployment {deployment['metadata']['name']} has no container named after it")
                return
            runs = app.get("command", []) + app.get("args", [])
            (workers if runs == WORKER_COMMAND else apis).append((deployment, app))
        if len(apis) != 1:
            self.problem(f"expected one Deployment of the API, found {len(apis)}")
            return
        if len(workers) > 1:
            self.problem(f"expected at most one worker Deployment, found {len(workers)}")
            return
        deployment, app = apis[0]
        settings = self.check_deployment(deployment, app)
        self.check_grace(deployment["spec"]["template"]["spec"], settings)
        self.check_selectors(deployment, app, [w for w, _ in workers])
        for worker, worker_app in workers:
            self.check_worker(worker, worker_app, deployment, app, settings)

    @staticmethod
    def app_container(deployment):
        containers = deployment["spec"]["template"]["spec"].get("containers", [])
        return next((c for c in containers if c["name"] == deployment["metadata"]["name"]), None)

    def check_deployment(self, deployment, app):
        """What every Deployment of the service keeps; returns its app container's settings."""
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        if spec.get("replicas", 1) < 2:
            self.problem(f"Deployment {name} runs fewer than 2 replicas")
        strategy = spec.get("strategy", {})
        if strategy.get("type") != "RollingUpdate" or str(
            strategy.get("rollingUpdate", {}).get("maxUnavailable")
        ) not in ("0", "0%"):
            self.problem(f"Deployment {name} must roll with strategy RollingUpdate, maxUnavailable: 0")
        self.check_probes(app)
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            self.check_resources(container)
            self.check_security(pod, container)
        settings = self.check_settings(app)
        self.check_secret_url(app, f"Deployment {name}")
        self.check_migration(pod, app)
        pod_labels = spec["template"]["metadata"].get("labels", {})
        if not selects(spec["selector"].get("matchLabels", {}), pod_labels):
            self.problem(f"Deployment {name}'s selector does not match its pod template")
        return settings

    def check_worker(self, worker, app, api, api_app, api_settings):
        """deploy/components/worker: the jobs run in these pods and in no API pod, on the API's
        image, and SIGTERM leaves the running jobs time to finish."""
        name = worker["metadata"]["name"]
        pod = worker["spec"]["template"]["spec"]
        pod_labels = worker["spec"]["template"]["metadata"].get("labels", {})
        settings = self.check_deployment(worker, app)
        if app.get("image") != api_app.get("image"):
            self.problem(f"Deployment {name} runs {app.get('image')}, the API {api_app.get('image')}: they must be the same image")
        if self.number(settings, "APP__JOBS__WORKERS") < 1:
            self.problem(f"Deployment {name}: APP__JOBS__WORKERS is 0: its pods would run no job (and refuse to start)")
        if self.number(api_settings, "APP__JOBS__WORKERS") != 0:
            self.problem(
                "the API's pods run job workers too (APP__JOBS__WORKERS is not 0): with a worker "
                "Deployment the jobs must run in its pods only"
            )
        drain = self.number(settings, "APP__SERVER__DRAIN_SECONDS")
        grace = self.number(settings, "APP__SERVER__SHUTDOWN_GRACE_SECONDS")
        lease = self.number(settings, "APP__JOBS__LEASE_SECONDS")
        period = pod.get("terminationGracePeriodSeconds", 30)
        if grace < lease:
            self.problem(
                f"Deployment {name}: the shutdown grace ({grace} s) is shorter than a job's longest "
                f"run (APP__JOBS__LEASE_SECONDS, {lease} s): running jobs would be cut off on SIGTERM"
            )
        if period < drain + grace:
            self.problem(
                f"Deployment {name}: terminationGracePeriodSeconds {period} is shorter than the drain "
                f"({drain} s) plus the shutdown grace ({grace} s): pods would be killed mid-job"
            )
        api_labels = api["spec"]["template"]["metadata"].get("labels", {})
        if selects(worker["spec"]["selector"].get("matchLabels", {}), api_labels):
            self.problem(f"Deployment {name}'s selector also matches the API's pods")
        for service in self.of_kind("Service"):
            if selects(service["spec"].get("selector", {}), pod_labels):
                self.problem(f"Service {service['metadata']['name']} selects the worker's pods, which serve no API")
        if not any(
            selects(b["spec"].get("selector", {}).get("matchLabels", {}), pod_labels)
            for b in self.of_kind("PodDisruptionBudget")
        ):
            self.problem(f"no PodDisruptionBudget selects Deployment {name}'s pods")

    def number(self, settings, key):
        try:
            return int(settings.get(key, DEFAULTS[key]))
        except ValueError:
            self.problem(f"{key} = {settings.get(key)!r} is not a number")
            return DEFAULTS[key]

    def check_probes(self, app):
        expected = {
            "startupProbe": "/health/",
            "readinessProbe": "/health/ready",
            "livenessProbe": "/health/live",
        }
        for probe, path in expected.items():
            got = app.get(probe, {}).get("httpGet", {}).get("path")
            if got is None:
                self.problem(f"container {app['name']}: no {probe} (an httpGet on {path})")
            elif not got.startswith(path):
                self.problem(f"container {app['name']}: {probe} probes {got}, not {path}")

    def check_resources(self, container):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    self.problem(f"container {container['name']}: no {resource} in resources.{kind}")

    def check_security(self, pod, container):
        name = container["name"]
        pod_security = pod.get("securityContext", {})
        security = container.get("securityContext", {})

        def setting(key):
            return security.get(key, pod_security.get(key))

        if setting("runAsNonRoot") is not True:
            self.problem(f"container {name}: runAsNonRoot must be true")
        if security.get("readOnlyRootFilesystem") is not True:
            self.problem(f"container {name}: readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            self.problem(f"container {name}: allowPrivilegeEscalation must be false")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            self.problem(f"container {name}: capabilities must drop ALL")
        if security.get("capabilities", {}).get("add"):
            self.problem(f"container {name}: adds capabilities")
        if (setting("seccompProfile") or {}).get("type") != "RuntimeDefault":
            self.problem(f"container {name}: seccompProfile must be RuntimeDefault")

    def check_settings(self, app):
        """The service's settings come from a ConfigMap that is part of the assets."""
        maps = {m["metadata"]["name"]: m.get("data", {}) for m in self.of_kind("ConfigMap")}
        settings = {}
        referenced = [e["configMapRef"]["name"] for e in app.get("envFrom", []) if "configMapRef" in e]
        if not referenced:
            self.problem(f"container {app['name']}: settings must come from a ConfigMap (envFrom)")
        for name in referenced:
            if name not in maps:
                self.problem(f"container {app['name']}: ConfigMap {name} is not in the assets")
            settings.update(maps.get(name, {}))
        for entry in app.get("env", []):
            if entry["name"].startswith("APP__") and "value" in entry:
                self.problem(f"container {app['name']}: {entry['name']} belongs in the ConfigMap")
        if settings.get("APP_ENV", "production") != "production":
            self.problem("APP_ENV must be production")
        return settings

    def check_grace(self, pod, settings):
        drain = self.number(settings, "APP__SERVER__DRAIN_SECONDS")
        grace = self.number(settings, "APP__SERVER__SHUTDOWN_GRACE_SECONDS")
        timeout = self.number(settings, "APP__SERVER__REQUEST_TIMEOUT_SECONDS")
        period = pod.get("terminationGracePeriodSeconds", 30)
        if drain == 0:
            self.problem("APP__SERVER__DRAIN_SECONDS is 0: rolling updates would drop requests")
        if period < drain + timeout:
            self.problem(
                f"terminationGracePeriodSeconds {period} does not cover the drain ({drain} s) "
                f"plus the request timeout ({timeout} s)"
            )
        if period < drain + grace:
            self.problem(
                f"terminationGracePeriodSeconds {period} is shorter than the drain ({drain} s) "
                f"plus the shutdown grace ({grace} s): pods would be killed while finishing"
            )

    def check_secret_url(self, container, what):
        entries = [e for e in container.get("env", []) if e["name"] == "DATABASE_URL"]
        if not entries or "secretKeyRef" not in entries[0].get("valueFrom", {}):
            self.problem(f"{what} ({container['name']}): DATABASE_URL must come from a Secret (secretKeyRef)")

    def check_migration(self, pod, app):
        """Migrations run before the service: an init container (or a Job) running
        `migration up` on the same image."""
        runs_migrations = [
            c
            for c in pod.get("initContainers", [])
            if c.get("command", []) + c.get("args", []) == ["migration", "up"]
        ]
        jobs = [
            j
            for j in self.of_kind("Job")
            for c in j["spec"]["template"]["spec"]["containers"]
            if c.get("command", []) + c.get("args", []) == ["migration", "up"]
        ]
        if not runs_migrations and not jobs:
            self.problem("no init container or Job runs `migration up`")
        for container in runs_migrations:
            if container.get("image") != app.get("image"):
                self.problem(
                    f"the migration runs {container.get('image')}, the service {app.get('image')}: "
                    "they must be the same image"
                )
            self.check_secret_url(container, "the migration")
        for job in jobs:
            for container in job["spec"]["template"]["spec"]["containers"]:
                if container.get("image") != app.get("image"):
                    self.problem("the migration Job must run the service's image")

    def check_selectors(self, deployment, app, workers):
        """The Service, PDB, HPA and ServiceMonitor select the API's pods; nothing of the API
        selects a worker's pods (those have a PDB of their own)."""
        pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        worker_labels = [w["spec"]["template"]["metadata"].get("labels", {}) for w in workers]
        name = deployment["metadata"]["name"]
        if any(selects(deployment["spec"]["selector"].get("matchLabels", {}), w) for w in worker_labels):
            self.problem(f"Deployment {name}'s selector also matches the worker's pods")
        port_names = {p.get("name") for p in app.get("ports", [])}
        port_numbers = {p.get("containerPort") for p in app.get("ports", [])}

        services = self.of_kind("Service")
        if not services:
            self.problem("no Service")
        for service in services:
            if not selects(service["spec"].get("selector", {}), pod_labels):
                self.problem(f"Service {service['metadata']['name']} does not select the Deployment's pods")
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port.get("port"))
                if target not in port_names and target not in port_numbers:
                    self.problem(f"Service port {port.get('name')} targets {target}, which no container port is")

        # The worker's own budgets are checked with it.
        budgets = [
            b
            for b in self.of_kind("PodDisruptionBudget")
            if not any(selects(b["spec"].get("selector", {}).get("matchLabels", {}), w) for w in worker_labels)
        ]
        if not budgets:
            self.problem("no PodDisruptionBudget")
        for budget in budgets:
            if not selects(budget["spec"].get("selector", {}).get("matchLabels", {}), pod_labels):
                self.problem(f"PodDisruptionBudget {budget['metadata']['name']} does not select the Deployment's pods")
            if budget["spec"].get("minAvailable") is not None and str(budget["spec"]["minAvailable"]) in (
                str(deployment["spec"].get("replicas")),
                "100%",
            ):
                self.problem("the PodDisruptionBudget allows no disruption: node drains would block")

        scalers = self.of_kind("HorizontalPodAutoscaler")
        if not scalers:
            self.problem("no HorizontalPodAutoscaler")
        for scaler in scalers:
            target = scaler["spec"]["scaleTargetRef"]
            if (target.get("apiVersion"), target.get("kind"), target.get("name")) != ("apps/v1", "Deployment", name):
                self.problem(f"HorizontalPodAutoscaler {scaler['metadata']['name']} does not scale Deployment {name}")
            on_cpu = any(
                m.get("type") == "Resource" and m.get("resource", {}).get("name") == "cpu"
                for m in scaler["spec"].get("metrics", [])
            )
            if not on_cpu:
                self.problem("the HorizontalPodAutoscaler does not scale on CPU")
            if scaler["spec"].get("minReplicas", 1) < 2:
                self.problem("the HorizontalPodAutoscaler may scale below 2 replicas")

        service_labels = [s["metadata"].get("labels", {}) for s in services]
        service_ports = {p.get("name") for s in services for p in s["spec"].get("ports", [])}
        for monitor in [r for r in self.resources if r.get("kind") == "ServiceMonitor"]:
            wanted = monitor["spec"]["selector"].get("matchLabels", {})
            if not any(all(labels.get(k) == v for k, v in wanted.items()) for labels in service_labels):
                self.problem("the ServiceMonitor selects no Service of the assets")
            for endpoint in monitor["spec"].get("endpoints", []):
                if endpoint.get("port") not in service_ports:
                    self.problem(f"the ServiceMonitor scrapes port {endpoint.get('port')}, which the Service lacks")
                if endpoint.get("path", "/metrics") != "/metrics":
                    self.problem("the ServiceMonitor must scrape /metrics")


def selects(match_labels, pod_labels):
    return bool(match_labels) and all(pod_labels.get(k) == v for k, v in match_labels.items())


def main(paths):
    failed = False
    for path in paths:
        with open(path) as file:
            resources = [r for r in yaml.safe_load_all(file) if r]
        checker = Checker(path, resources)
        checker.validate_schemas()
        checker.check_rules()
        name = path.rsplit("/", 1)[-1].removesuffix(".yaml")
        if checker.problems:
            failed = True
            print(f"{name}: {len(checker.problems)} problem(s)")
            for problem in checker.problems:
                print(f"  - {problem}")
        else:
            kinds = ", ".join(sorted(r["kind"] for r in resources))
            print(
                f"{name}: ok ({kinds}; strict Kubernetes {' and '.join(v[:-2] for v in VERSIONS)} "
                "schemas and the deployment rules)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
