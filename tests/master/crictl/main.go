// Command crictl is a subset of cri-tools' crictl for the test master: the commands the
// apiserver_recovery role and the test harness run (version, pods, ps, stopp, rmp, logs), with
// crictl's flags and semantics (regular-expression name filters, --latest/--last, --quiet output,
// newest first), speaking the real CRI API to containerd through k8s.io/cri-client, the client
// the kubelet itself uses. It exists because the Go module proxy these machines reach refuses
// sigs.k8s.io/cri-tools (403); see docs/recovery-e2e.md. It is not a test double: every answer
// comes from the container runtime.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	internalapi "k8s.io/cri-api/pkg/apis"
	pb "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/cri-client/pkg/logs"
	"k8s.io/klog/v2"
)

// The version line crictl prints: the CRI version API's own version, not the tool's.
const version = "0.1.0"

// The order crictl tries when no endpoint is configured (containerd first).
var defaultEndpoints = []string{"unix:///run/containerd/containerd.sock", "unix:///run/crio/crio.sock"}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "crictl: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	global := flag.NewFlagSet("crictl", flag.ContinueOnError)
	var endpoint string
	var timeout time.Duration
	global.StringVar(&endpoint, "runtime-endpoint", os.Getenv("CONTAINER_RUNTIME_ENDPOINT"), "CRI endpoint")
	global.StringVar(&endpoint, "r", os.Getenv("CONTAINER_RUNTIME_ENDPOINT"), "CRI endpoint (short)")
	global.String("image-endpoint", "", "ignored: no image commands")
	global.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of each CRI call")
	global.DurationVar(&timeout, "t", 10*time.Second, "timeout of each CRI call (short)")
	global.Bool("debug", false, "ignored")
	if err := global.Parse(args); err != nil {
		return err
	}
	rest := global.Args()
	if len(rest) == 0 {
		return fmt.Errorf("usage: crictl [--runtime-endpoint URL] version|pods|ps|stopp|rmp|logs [flags] [ID...]")
	}
	command, cargs := rest[0], rest[1:]
	logger := klog.Background()
	endpoints := defaultEndpoints
	if endpoint != "" {
		endpoints = []string{endpoint}
	}
	var rt internalapi.RuntimeService
	var lastErr error
	for _, ep := range endpoints {
		svc, err := remote.NewRemoteRuntimeService(ep, timeout, nil, &logger)
		if err != nil {
			lastErr = err
			continue
		}
		// grpc dials lazily: a Version call proves the endpoint answers.
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err = svc.Version(ctx, "v1")
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", ep, err)
			continue
		}
		rt = svc
		break
	}
	if rt == nil {
		return fmt.Errorf("no container runtime answers: %v", lastErr)
	}
	ctx := context.Background()
	switch command {
	case "version":
		return cmdVersion(ctx, rt)
	case "pods":
		return cmdPods(ctx, rt, cargs)
	case "ps":
		return cmdPs(ctx, rt, cargs)
	case "stopp":
		return eachID(cargs, "stopp", func(id string) error {
			if err := rt.StopPodSandbox(ctx, id); err != nil {
				return fmt.Errorf("stopping the pod sandbox %q: %w", id, err)
			}
			fmt.Printf("Stopped sandbox %s\n", id)
			return nil
		})
	case "rmp":
		return cmdRmp(ctx, rt, cargs)
	case "logs":
		return cmdLogs(ctx, rt, cargs)
	}
	return fmt.Errorf("unknown command %q (this crictl knows version, pods, ps, stopp, rmp, logs)", command)
}

func cmdVersion(ctx context.Context, rt internalapi.RuntimeService) error {
	v, err := rt.Version(ctx, "v1")
	if err != nil {
		return err
	}
	fmt.Printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
		version, v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	return nil
}

// listFlags are the filters pods and ps share, as crictl spells them.
type listFlags struct {
	fs                 *flag.FlagSet
	quiet, latest, all bool
	last               int
	name, namespace    string
	state, id, pod     string
}

func newListFlags(name string) *listFlags {
	f := &listFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	for _, n := range []string{"quiet", "q"} {
		f.fs.BoolVar(&f.quiet, n, false, "only IDs")
	}
	for _, n := range []string{"latest", "l"} {
		f.fs.BoolVar(&f.latest, n, false, "only the most recently created (all states)")
	}
	f.fs.IntVar(&f.last, "last", 0, "the n most recently created (all states)")
	f.fs.StringVar(&f.name, "name", "", "regular expression on the name")
	f.fs.StringVar(&f.namespace, "namespace", "", "regular expression on the pod namespace")
	f.fs.StringVar(&f.state, "state", "", "filter by state")
	f.fs.StringVar(&f.state, "s", "", "filter by state (short)")
	f.fs.StringVar(&f.id, "id", "", "filter by ID")
	return f
}

// matches follows crictl: an empty pattern matches, an invalid one matches nothing.
func matches(pattern, target string) bool {
	if pattern == "" {
		return true
	}
	ok, err := regexp.MatchString(pattern, target)
	return err == nil && ok
}

func limit(n int, f *listFlags) int {
	if f.latest {
		return min(1, n)
	}
	if f.last > 0 {
		return min(f.last, n)
	}
	return n
}

func cmdPods(ctx context.Context, rt internalapi.RuntimeService, args []string) error {
	f := newListFlags("pods")
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	filter := &pb.PodSandboxFilter{Id: f.id}
	switch strings.ToLower(f.state) {
	case "":
	case "ready":
		filter.State = &pb.PodSandboxStateValue{State: pb.PodSandboxState_SANDBOX_READY}
	case "notready":
		filter.State = &pb.PodSandboxStateValue{State: pb.PodSandboxState_SANDBOX_NOTREADY}
	default:
		return fmt.Errorf("--state should be ready or notready")
	}
	list, err := rt.ListPodSandbox(ctx, filter)
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var pods []*pb.PodSandbox
	for _, p := range list {
		if p.Metadata != nil && matches(f.name, p.Metadata.Name) && matches(f.namespace, p.Metadata.Namespace) {
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].CreatedAt > pods[j].CreatedAt })
	pods = pods[:limit(len(pods), f)]
	if f.quiet {
		for _, p := range pods {
			fmt.Println(p.Id)
		}
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, "POD ID\tCREATED\tSTATE\tNAME\tNAMESPACE\tATTEMPT\tRUNTIME")
	for _, p := range pods {
		handler := p.RuntimeHandler
		if handler == "" {
			handler = "(default)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", short(p.Id), ago(p.CreatedAt), podState(p.State),
			p.Metadata.Name, p.Metadata.Namespace, p.Metadata.Attempt, handler)
	}
	return w.Flush()
}

func cmdPs(ctx context.Context, rt internalapi.RuntimeService, args []string) error {
	f := newListFlags("ps")
	for _, n := range []string{"all", "a"} {
		f.fs.BoolVar(&f.all, n, false, "all states, not only running")
	}
	for _, n := range []string{"pod", "p"} {
		f.fs.StringVar(&f.pod, n, "", "filter by pod sandbox ID")
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	filter := &pb.ContainerFilter{Id: f.id, PodSandboxId: f.pod}
	states := map[string]pb.ContainerState{
		"created": pb.ContainerState_CONTAINER_CREATED, "running": pb.ContainerState_CONTAINER_RUNNING,
		"exited": pb.ContainerState_CONTAINER_EXITED, "unknown": pb.ContainerState_CONTAINER_UNKNOWN,
	}
	if f.state != "" {
		st, ok := states[strings.ToLower(f.state)]
		if !ok {
			return fmt.Errorf("--state should be one of created, running, exited or unknown")
		}
		filter.State = &pb.ContainerStateValue{State: st}
	} else if !f.all {
		filter.State = &pb.ContainerStateValue{State: pb.ContainerState_CONTAINER_RUNNING}
	}
	if f.latest || f.last > 0 {
		filter.State = nil // like crictl: --latest and --last look at every state
	}
	list, err := rt.ListContainers(ctx, filter)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var ctrs []*pb.Container
	for _, c := range list {
		if c.Metadata != nil && matches(f.name, c.Metadata.Name) &&
			matches(f.namespace, c.Labels["io.kubernetes.pod.namespace"]) {
			ctrs = append(ctrs, c)
		}
	}
	sort.SliceStable(ctrs, func(i, j int) bool { return ctrs[i].CreatedAt > ctrs[j].CreatedAt })
	ctrs = ctrs[:limit(len(ctrs), f)]
	if f.quiet {
		for _, c := range ctrs {
			fmt.Println(c.Id)
		}
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 20, 1, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD\tNAMESPACE")
	for _, c := range ctrs {
		image := c.GetImage().GetImage()
		if strings.HasPrefix(image, "sha256:") {
			image = short(strings.TrimPrefix(image, "sha256:"))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", short(c.Id), image, ago(c.CreatedAt),
			containerState(c.State), c.Metadata.Name, c.Metadata.Attempt, short(c.PodSandboxId),
			c.Labels["io.kubernetes.pod.name"], c.Labels["io.kubernetes.pod.namespace"])
	}
	return w.Flush()
}

func cmdRmp(ctx context.Context, rt internalapi.RuntimeService, args []string) error {
	fs := flag.NewFlagSet("rmp", flag.ContinueOnError)
	var all, force bool
	for _, n := range []string{"all", "a"} {
		fs.BoolVar(&all, n, false, "remove every pod sandbox")
	}
	for _, n := range []string{"force", "f"} {
		fs.BoolVar(&force, n, false, "stop running sandboxes first")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ids := fs.Args()
	if all {
		list, err := rt.ListPodSandbox(ctx, nil)
		if err != nil {
			return fmt.Errorf("list pod sandboxes: %w", err)
		}
		ids = nil
		for _, p := range list {
			ids = append(ids, p.Id)
		}
		if len(ids) == 0 {
			return nil
		}
	}
	return eachID(ids, "rmp", func(id string) error {
		if force {
			if err := rt.StopPodSandbox(ctx, id); err != nil {
				return fmt.Errorf("stopping the pod sandbox %q: %w", id, err)
			}
		}
		if err := rt.RemovePodSandbox(ctx, id); err != nil {
			return fmt.Errorf("removing the pod sandbox %q: %w", id, err)
		}
		fmt.Printf("Removed sandbox %s\n", id)
		return nil
	})
}

func cmdLogs(ctx context.Context, rt internalapi.RuntimeService, args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	tail := fs.Int64("tail", -1, "number of lines from the end (-1: all)")
	timestamps := fs.Bool("timestamps", false, "show timestamps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("logs needs exactly one container ID")
	}
	id := fs.Arg(0)
	status, err := rt.ContainerStatus(ctx, id, false)
	if err != nil {
		return fmt.Errorf("container status of %q: %w", id, err)
	}
	path := status.GetStatus().GetLogPath()
	if path == "" {
		return fmt.Errorf("container %q has no log path", id)
	}
	opts := &v1.PodLogOptions{Timestamps: *timestamps}
	if *tail >= 0 {
		opts.TailLines = tail
	}
	logger := klog.Background()
	// Like crictl: the container's stdout goes to stdout, its stderr to stderr.
	return logs.ReadLogs(ctx, &logger, path, status.GetStatus().GetId(), logs.NewLogOptions(opts, time.Now()), rt,
		os.Stdout, os.Stderr)
}

func eachID(ids []string, command string, do func(string) error) error {
	if len(ids) == 0 {
		return fmt.Errorf("%s needs at least one ID", command)
	}
	var failed []string
	for _, id := range ids {
		if err := do(id); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = append(failed, id)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s failed for %s", command, strings.Join(failed, ", "))
	}
	return nil
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

// ago words the age like crictl (docker's go-units HumanDuration) for the common ranges.
func ago(nanos int64) string {
	d := time.Since(time.Unix(0, nanos))
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second ago"
	case s == 1:
		return "1 second ago"
	case s < 60:
		return fmt.Sprintf("%d seconds ago", s)
	case d.Minutes() < 2:
		return "About a minute ago"
	case d.Minutes() < 60:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d.Hours() < 2:
		return "About an hour ago"
	}
	return fmt.Sprintf("%d hours ago", int(d.Hours()))
}

func podState(s pb.PodSandboxState) string {
	if s == pb.PodSandboxState_SANDBOX_READY {
		return "Ready"
	}
	return "NotReady"
}

func containerState(s pb.ContainerState) string {
	switch s {
	case pb.ContainerState_CONTAINER_CREATED:
		return "Created"
	case pb.ContainerState_CONTAINER_RUNNING:
		return "Running"
	case pb.ContainerState_CONTAINER_EXITED:
		return "Exited"
	}
	return "Unknown"
}
