// Package faults runs Jepsen-style fault schedules against a local Shoal
// cluster (internal/localcluster): a nemesis drawn from a seed partitions
// hosts with nftables, kills, pauses and restarts daemons and containerd
// and fills a manager's disk, while clients create, update and remove
// services through every manager's Engine API socket and record each
// call. The history is then checked for linearizability with porcupine
// against Model, and the cluster, once healed, for what must hold after
// faults: no acknowledged write lost, nothing refused applied, one task
// per slot and every service at its replica count.
package faults
