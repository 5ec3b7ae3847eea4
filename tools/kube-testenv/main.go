// kube-testenv runs a real Kubernetes control plane for vm-operator's tests and demo:
// embedded etcd (or kine in front of SQLite, k3s's default datastore), kube-apiserver (RBAC, service-account tokens, a static admin token)
// and kube-controller-manager's garbage-collector, namespace, service-account,
// persistent-volume binder and protection, and resource-quota controllers. It writes a kubeconfig, prints
// one READY line and stops on SIGTERM.
//
// The API server runs in this process. The controller manager runs as a child process
// of this same binary (`kube-testenv controller-manager ...`), because both components
// register process-global metrics and flags that must not collide.
//
// Restarting on the same --data-dir keeps every object and reuses the same ports, so a
// client's kubeconfig stays valid across a restart (fault tests rely on that).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// ports are persisted in the data dir so a restart serves on the same addresses.
type ports struct {
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
	APIServer  int `json:"apiServer"`
	// Only with --datastore sqlite: kine serves metrics on a port of its own (default :8080,
	// which two control planes would share).
	KineMetrics int `json:"kineMetrics,omitempty"`
	// The fault webhook (see faults.go).
	FaultWebhook int `json:"faultWebhook,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "controller-manager" {
		cmd := kcmapp.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		if err := cmd.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "controller-manager:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kube-testenv:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := flag.String("data-dir", "", "directory for etcd data, PKI and kubeconfig (temporary and removed at exit when empty)")
	kubeconfigPath := flag.String("kubeconfig", "", "where to write the admin kubeconfig (default <data-dir>/kubeconfig)")
	apiPort := flag.Int("port", 0, "API server port (default: a free port, reused on restart)")
	removeOnExit := flag.Bool("remove-data-dir-on-exit", false, "delete --data-dir after shutting down")
	crdDirs := flag.String("crds", "", "comma-separated directories of CRD manifests to install before the controller manager starts")
	stopOnStdinEOF := flag.Bool("stop-on-stdin-eof", false, "shut down when standard input closes (the parent process exited)")
	auditLog := flag.String("audit-log", "", "write the API server's audit log (JSON lines, one event per completed request) here")
	auditUser := flag.String("audit-user", "", "with --audit-log: record only this user's requests")
	datastore := flag.String("datastore", "etcd", "where the API server keeps its objects: etcd (embedded) or sqlite (kine in front of SQLite, as k3s does by default)")
	kineBinary := flag.String("kine", "kine", "with --datastore sqlite: the kine binary")
	var kineArgs repeated
	flag.Var(&kineArgs, "kine-arg", "with --datastore sqlite: one more kine flag, such as --compact-min-retain=100 (repeatable)")
	controllerManagerQPS := flag.Int("controller-manager-qps", 20, "kube-controller-manager's client rate (--kube-api-qps, burst twice that); 20 is upstream's default")
	var extraAPIServerArgs repeated
	flag.Var(&extraAPIServerArgs, "apiserver-arg", "one more kube-apiserver flag, such as --etcd-compaction-interval=2s (repeatable)")
	flag.Parse()

	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "kube-testenv-")
		if err != nil {
			return err
		}
		*dataDir = dir
		*removeOnExit = true
	}
	if *removeOnExit {
		// Deferred first, so it runs last: after etcd has closed its files.
		defer os.RemoveAll(*dataDir)
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	if *kubeconfigPath == "" {
		*kubeconfigPath = filepath.Join(*dataDir, "kubeconfig")
	}

	p, err := loadOrAllocatePorts(*dataDir, *apiPort)
	if err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	pki, err := ensurePKI(filepath.Join(*dataDir, "pki"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}

	phases := newPhaseLog()
	stopStore, err := startDatastore(*datastore, *dataDir, p, *kineBinary, kineArgs)
	if err != nil {
		return fmt.Errorf("%s: %w", *datastore, err)
	}
	defer stopStore()
	phases.done(*datastore)

	apiErr := make(chan error, 1)
	apiserver := apiserverapp.NewAPIServerCommand()
	args := append(apiServerArgs(p, pki), extraAPIServerArgs...)
	if *auditLog != "" {
		policy, err := writeAuditPolicy(*dataDir, *auditUser)
		if err != nil {
			return fmt.Errorf("audit policy: %w", err)
		}
		args = append(args,
			"--audit-policy-file="+policy,
			"--audit-log-path="+*auditLog,
			"--audit-log-format=json",
			"--audit-log-maxsize=0",
		)
	}
	apiserver.SetArgs(args)
	// The command stops on SIGTERM/SIGINT through its own signal context.
	go func() { apiErr <- apiserver.Execute() }()

	host := fmt.Sprintf("https://127.0.0.1:%d", p.APIServer)
	if err := waitReady(host, pki, apiErr); err != nil {
		return fmt.Errorf("kube-apiserver: %w", err)
	}
	phases.done("kube-apiserver ready")
	if err := writeKubeconfig(*kubeconfigPath, host, pki.caFile, adminToken); err != nil {
		return err
	}
	if dirs := splitDirs(*crdDirs); len(dirs) > 0 {
		if err := installCRDs(*kubeconfigPath, dirs); err != nil {
			return fmt.Errorf("CRDs: %w", err)
		}
		phases.done("CRDs established")
	}
	kcm, err := startControllerManager(*dataDir, *kubeconfigPath, pki, *controllerManagerQPS)
	if err != nil {
		return fmt.Errorf("controller-manager: %w", err)
	}

	if err := serveFaultWebhook(p.FaultWebhook, pki); err != nil {
		return fmt.Errorf("fault webhook: %w", err)
	}
	phases.done("controller-manager and fault webhook started")
	fmt.Printf("READY kubeconfig=%s server=%s data-dir=%s fault-webhook=https://127.0.0.1:%d\n", *kubeconfigPath, host, *dataDir, p.FaultWebhook)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	if *stopOnStdinEOF {
		// A test binary that exits, however it exits, closes our stdin. SIGTERM to ourselves
		// also reaches the API server's own signal handler, so it drains cleanly.
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}
	kcmDone := make(chan error, 1)
	go func() { kcmDone <- kcm.Wait() }()

	var runErr error
	select {
	case <-signals:
	case err := <-apiErr:
		runErr = fmt.Errorf("kube-apiserver stopped: %v", err)
	case err := <-kcmDone:
		runErr = fmt.Errorf("controller-manager stopped: %v", err)
		kcmDone <- err
	}
	_ = kcm.Process.Signal(syscall.SIGTERM)
	select {
	case <-kcmDone:
	case <-time.After(10 * time.Second):
		_ = kcm.Process.Kill()
	}
	select {
	case <-apiErr:
	case <-time.After(30 * time.Second):
	}
	return runErr
}

func loadOrAllocatePorts(dataDir string, apiPort int) (ports, error) {
	path := filepath.Join(dataDir, "ports.json")
	var p ports
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &p); err != nil {
			return p, fmt.Errorf("%s: %w", path, err)
		}
		if apiPort != 0 {
			p.APIServer = apiPort
		}
	} else {
		var err error
		if p.EtcdClient, err = freePort(); err != nil {
			return p, err
		}
		if p.EtcdPeer, err = freePort(); err != nil {
			return p, err
		}
		p.APIServer = apiPort
		if p.APIServer == 0 {
			if p.APIServer, err = freePort(); err != nil {
				return p, err
			}
		}
	}
	for _, port := range []*int{&p.KineMetrics, &p.FaultWebhook} {
		if *port == 0 {
			var err error
			if *port, err = freePort(); err != nil {
				return p, err
			}
		}
	}
	raw, _ := json.Marshal(p)
	return p, os.WriteFile(path, raw, 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeAuditPolicy records, at Metadata level and once per request (when its response is
// complete), the requests of `user` (every user when empty), and nothing else.
func writeAuditPolicy(dataDir, user string) (string, error) {
	users := ""
	if user != "" {
		users = "\n    users: [\"" + user + "\"]"
	}
	policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n  - level: Metadata" + users + "\n  - level: None\n"
	path := filepath.Join(dataDir, "audit-policy.yaml")
	return path, os.WriteFile(path, []byte(policy), 0o600)
}

// repeated collects every value of a flag given more than once.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, " ") }

func (r *repeated) Set(value string) error {
	*r = append(*r, value)
	return nil
}

func apiServerArgs(p ports, pki *pkiFiles) []string {
	return []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(p.EtcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.APIServer),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.caFile,
		"--token-auth-file=" + pki.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saPublic,
		"--service-account-signing-key-file=" + pki.saPrivate,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--profiling=false",
		// A loopback address cannot back the kubernetes Service's endpoints; nothing here needs them.
		"--endpoint-reconciler-type=none",
		"--v=0",
	}
}

func waitReady(host string, pki *pkiFiles, apiErr <-chan error) error {
	client, err := httpClient(pki.caFile)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-apiErr:
			return fmt.Errorf("exited before ready: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("/readyz not OK after 3 minutes")
}

func httpClient(caFile string) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

func startControllerManager(dataDir, kubeconfig string, pki *pkiFiles, qps int) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dataDir, "controller-manager.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "controller-manager",
		"--kubeconfig="+kubeconfig,
		// Only controllers whose behaviour the operator relies on: owner-reference cleanup,
		// namespace deletion, service accounts, the volume binder with the protection
		// controllers (without them a deleted claim would stay Terminating forever), and the
		// ResourceQuota controller (status.used, which quota admission and the operator's
		// quota check read).
		"--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,persistentvolume-binder-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,resourcequota-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file="+pki.saPrivate,
		"--root-ca-file="+pki.caFile,
		"--use-service-account-credentials=false",
		// The volume binder makes about five requests per claim: at upstream's 20 per second
		// it binds four claims a second, whatever the API server could take.
		fmt.Sprintf("--kube-api-qps=%d", qps),
		fmt.Sprintf("--kube-api-burst=%d", 2*qps),
		"--v=0",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// The child must not outlive this process, even when this one is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, cmd.Start()
}
