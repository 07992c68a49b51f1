# JupyterHub on Kubernetes for a room larger than one machine: the next step after
# `./lab workshop --hands-on N`, which runs everything on one host. NOT TESTED in this lab's CI
# (no cluster here); see docs/workshop.mdx for what was tested and what was not.
#
# Layout: attendee pods are scheduled only onto nodes labelled lab.go-uretprobe/probe-node=true;
# each such node runs one probe service (probe-service-daemonset.yaml) whose socket is mounted
# into the attendee pods on that node. Attendee pods run unprivileged, each with its own uid, so
# the probe service's SO_PEERCRED check tells them apart. Scheduling is KubeSpawner's, not ours.
c = get_config()  # noqa

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
# The image `./lab container build` makes (engines/container/image.ts: Debian's packages, Node, Go),
# pushed to the cluster's registry under the same name (README, "The lab in a container"):
#   podman push localhost/go-uretprobe-lab:<tag> docker://registry.example/go-uretprobe-lab:<tag>
# It holds no lab files: each probe node keeps a checkout set up by `./lab setup` at LAB_CHECKOUT,
# mounted read-only at the same path (its venv's scripts name absolute paths), as `./lab container`
# mounts it on one machine.
LAB_IMAGE = "registry.example/go-uretprobe-lab:latest"
LAB_CHECKOUT = "/opt/go-uretprobe-lab"
c.KubeSpawner.image = LAB_IMAGE
c.KubeSpawner.node_selector = {"lab.go-uretprobe/probe-node": "true"}
c.KubeSpawner.cmd = [f"{LAB_CHECKOUT}/.venv/bin/jupyterhub-singleuser"]
c.KubeSpawner.args = ["--ServerApp.terminals_enabled=False"]
c.KubeSpawner.notebook_dir = "/home/jovyan/notebooks"


def attendee_uid(spawner):
    # One uid per attendee, allocated, never hashed: the probe service trusts the kernel's uid only,
    # so two attendees sharing one would share each other's probes. JupyterHub's user id is unique
    # and kept in its database, so the uid is stable across restarts and no two attendees collide.
    return 20000 + spawner.user.id


c.KubeSpawner.uid = attendee_uid
c.KubeSpawner.gid = attendee_uid
c.KubeSpawner.allow_privilege_escalation = False
c.KubeSpawner.container_security_context = {"capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": False}
c.KubeSpawner.volumes = [
    {"name": "probe-service", "hostPath": {"path": "/run/go-uretprobe-lab", "type": "Directory"}},
    {"name": "lab", "hostPath": {"path": LAB_CHECKOUT, "type": "Directory"}},
]
c.KubeSpawner.volume_mounts = [
    {"name": "probe-service", "mountPath": "/run/go-uretprobe-lab", "readOnly": True},
    {"name": "lab", "mountPath": LAB_CHECKOUT, "readOnly": True},
]
c.KubeSpawner.environment = {"LAB_PROBE_SERVICE": "/run/go-uretprobe-lab/probe.sock"}
c.KubeSpawner.cpu_limit = 1
c.KubeSpawner.mem_limit = "1G"
