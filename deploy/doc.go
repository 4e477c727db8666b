// Package deploy holds edged's deployment files, checked by its tests:
// edged.service, a hardened systemd unit, and Containerfile, a static binary
// on a distroless base run as a non-root user. docs/deployment.md describes
// them. The package has no code of its own; its tests verify the unit with
// systemd-analyze, build the container where a builder is available, and
// otherwise run the Containerfile's build step and check the binary it makes.
package deploy
