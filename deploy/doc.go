// Package deploy holds the files that run dmfpipe in production: a systemd unit
// (systemd/), a container image definition (container/Containerfile) and Kubernetes
// manifests for several replicas on one database (kubernetes/, applied with
// `kubectl apply -k`). README.md explains how to use them.
//
// The Go package has no code of its own: its tests parse every file and check the
// invariants that the rest of dmfpipe relies on (the command lines, the config path, the
// console port and its probes, the secrets the configs refer to).
package deploy
