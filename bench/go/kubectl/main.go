// Command kubectl is the upstream kubectl, built from the published k8s.io modules so the KUMA
// benchmark can apply the seed examples the way a user would (kubectl apply -f).
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
