// Command kubelet is the upstream Kubernetes node agent, built from the published k8s.io modules.
// The recovery end-to-end test runs it in standalone mode (static pods from --pod-manifest-path,
// no API server) so a real kube-apiserver runs as a static pod.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand()))
}
