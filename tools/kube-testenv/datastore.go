package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startDatastore starts what the API server keeps its objects in, listening on p.EtcdClient,
// and returns how to stop it.
func startDatastore(kind, dataDir string, p ports, kine string, kineArgs []string) (func(), error) {
	switch kind {
	case "etcd":
		e, err := startEtcd(filepath.Join(dataDir, "etcd"), p)
		if err != nil {
			return nil, err
		}
		return e.Close, nil
	case "sqlite":
		return startKine(kine, filepath.Join(dataDir, "db"), p, kineArgs)
	default:
		return nil, fmt.Errorf("unknown datastore %q (etcd or sqlite)", kind)
	}
}

func startEtcd(dir string, p ports) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "testenv"
	clientURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(p.EtcdClient))
	peerURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(p.EtcdPeer))
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.LogLevel = "error"
	// Tests create and delete many objects; keep the data dir small.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("not ready after 60s")
	}
}

// sqliteParams are kine's own defaults for SQLite (pkg/drivers/sqlite DefaultParams), which
// k3s uses: WAL journal, a 30 s busy timeout, immediate transactions.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&_stmt_cache_size=20&cache=shared"

// startKine runs kine as a child process serving the etcd API on p.EtcdClient from an SQLite
// database in dir. Compaction is left to the API server (kine's default, as in k3s).
func startKine(binary, dir string, p ports, extra []string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "kine.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	address := "127.0.0.1:" + strconv.Itoa(p.EtcdClient)
	args := append([]string{
		"--endpoint=sqlite://" + filepath.Join(dir, "state.db") + "?" + sqliteParams,
		"--listen-address=" + address,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(p.KineMetrics),
	}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			logFile.Close()
			return nil, fmt.Errorf("kine exited: %v (see %s)", err, filepath.Join(dir, "kine.log"))
		default:
		}
		if conn, err := net.DialTimeout("tcp", address, time.Second); err == nil {
			conn.Close()
			return stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, errors.New("kine not listening after 60s")
}
