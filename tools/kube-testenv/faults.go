package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// refused counts the requests the fault webhook has refused, served at /refused.
var refused atomic.Int64

// serveFaultWebhook serves an admission webhook that refuses every request it is sent with
// the status code its path names (/refuse/429, /refuse/503, ...), as a webhook may: the API
// server answers the client with that code. Tests point a ValidatingWebhookConfiguration at
// it (the CA is the control plane's) to make the API server answer 429 or 5xx for a window;
// GET /refused says how many it has refused.
func serveFaultWebhook(port int, pki *pkiFiles) error {
	cert, err := tls.LoadX509KeyPair(pki.servingCert, pki.servingKey)
	if err != nil {
		return err
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(listener, http.HandlerFunc(refuse)) }()
	return nil
}

type admissionReview struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Request    *struct{ UID string } `json:"request,omitempty"`
	Response   *admissionResponse    `json:"response,omitempty"`
}

type admissionResponse struct {
	UID     string `json:"uid"`
	Allowed bool   `json:"allowed"`
	Status  struct {
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"status"`
}

func refuse(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/refused" {
		fmt.Fprintln(w, refused.Load())
		return
	}
	code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/refuse/"))
	if err != nil || code < 400 || code > 599 {
		http.Error(w, "path must be /refuse/<4xx or 5xx>", http.StatusNotFound)
		return
	}
	var review admissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	response := &admissionResponse{UID: review.Request.UID}
	response.Status.Code = code
	response.Status.Reason = reasonOf(code)
	response.Status.Message = fmt.Sprintf("kube-testenv's fault webhook answers %d", code)
	review.Response = response
	review.Request = nil
	refused.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// reasonOf is the metav1.StatusReason the API server itself gives with such a code.
func reasonOf(code int) string {
	switch code {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusInternalServerError:
		return "InternalError"
	default:
		return ""
	}
}
