// Command istio-injector serves Istio's own sidecar injection webhook (istio.io/istio/pkg/kube/inject)
// on 127.0.0.1 for the harness's control plane, in place of the Python stand-in of
// tests/harness/injectors/istio.py.
//
// The injection is Istio's: the istiod chart compiled into istio.io/istio/manifests is rendered by
// istioctl's renderer (operator/pkg/render), as Istio's own webhook tests do, and the
// istio-sidecar-injector ConfigMap's `config` and `values` and the `istio` ConfigMap's mesh config
// feed inject.NewWebhook, whose /inject handler answers every AdmissionReview.
//
// The one input a test cluster changes while the webhook runs is istiod's ENABLE_NATIVE_SIDECARS,
// which istiod reads once at start into features.EnableNativeSidecars. Here it is read live before
// each request, as if istiod's rollout had finished: ASMMeshConfig/default spec.enableNativeSidecar
// (on the ASM instance with --mesh-server), else ENABLE_NATIVE_SIDECARS on the istiod Deployment of
// the pod's istio.io/rev, else disabled (no istiod). The pod's sidecar.istio.io/nativeSidecar and
// inject.istio.io/templates are left to Istio's code, and "auto" to its node check.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
)

var asmMeshConfigs = schema.GroupVersionResource{
	Group: "istio.alibabacloud.com", Version: "v1beta1", Resource: "asmmeshconfigs",
}

func main() {
	// Our own flag set: Istio's packages register flags of their own on the global one.
	flags := flag.NewFlagSet("istio-injector", flag.ExitOnError)
	server := flags.String("server", "", "API server URL")
	token := flags.String("token", "", "bearer token")
	ca := flags.String("ca", "", "API server CA file")
	cert := flags.String("cert", "", "serving certificate")
	key := flags.String("key", "", "serving key")
	port := flags.Int("port", 0, "port on 127.0.0.1")
	meshServer := flags.String("mesh-server", "", "API server holding ASMMeshConfig (the ASM instance)")
	meshToken := flags.String("mesh-token", "", "")
	meshCA := flags.String("mesh-ca", "", "")
	renderOnly := flags.Bool("render", false, "print the rendered injector config and values, then exit")
	_ = flags.Parse(os.Args[1:])

	config, values, meshConfig, err := renderChart()
	if err != nil {
		log.Fatalf("rendering the istiod chart: %v", err)
	}
	if *renderOnly {
		fmt.Printf("# config\n%s\n# values\n%s\n", config, values)
		return
	}

	cluster := restConfig(*server, *token, *ca)
	meshCluster := cluster
	if *meshServer != "" {
		meshCluster = restConfig(*meshServer, *meshToken, *meshCA)
	}
	settings := &liveSetting{
		kube:    kubernetes.NewForConfigOrDie(cluster),
		dynamic: dynamic.NewForConfigOrDie(meshCluster),
	}

	mux, err := newWebhook(cluster, config, values, meshConfig)
	if err != nil {
		log.Fatalf("starting Istio's webhook: %v", err)
	}
	handler := &injector{settings: settings, istio: mux}
	listen := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", *port), Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("istio-injector serving Istio's /inject on %s", listen.Addr)
	log.Fatal(listen.ListenAndServeTLS(*cert, *key))
}

// renderChart renders the istiod chart the way istioctl does (profile empty, pilot on: what
// Istio's own webhook tests render) and returns what istiod would mount from its ConfigMaps.
func renderChart() (config, values, meshData string, err error) {
	sets, _, err := render.GenerateManifest(nil, []string{"profile=empty", "components.pilot.enabled=true"}, false, nil, nil)
	if err != nil {
		return "", "", "", err
	}
	for _, set := range sets {
		for _, object := range set.Manifests {
			if object.GetKind() != "ConfigMap" {
				continue
			}
			data, _ := object.Object["data"].(map[string]any)
			switch object.GetName() {
			case "istio-sidecar-injector":
				config, _ = data["config"].(string)
				values, _ = data["values"].(string)
			case "istio":
				meshData, _ = data["mesh"].(string)
			}
		}
	}
	if config == "" || values == "" || meshData == "" {
		return "", "", "", fmt.Errorf("the rendered chart has no istio-sidecar-injector config/values or istio mesh")
	}
	return config, values, meshData, nil
}

func restConfig(server, token, caFile string) *rest.Config {
	return &rest.Config{
		Host:            server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
		QPS:             50,
		Burst:           100,
	}
}

// staticWatcher hands inject.NewWebhook the rendered chart; the chart doesn't change while the
// harness runs (istiod would watch its ConfigMap).
type staticWatcher struct {
	config *inject.Config
	values string
}

func (w staticWatcher) SetHandler(func(*inject.Config, string) error) {}
func (w staticWatcher) Run(<-chan struct{})                           {}
func (w staticWatcher) Get() (*inject.Config, string, error)          { return w.config, w.values, nil }

// newWebhook builds Istio's webhook as istiod's initSidecarInjector does, with a one-cluster
// multicluster controller whose node informer serves ENABLE_NATIVE_SIDECARS=auto.
func newWebhook(cluster *rest.Config, config, values, meshData string) (*http.ServeMux, error) {
	parsed, err := inject.UnmarshalConfig([]byte(config))
	if err != nil {
		return nil, fmt.Errorf("injector config: %v", err)
	}
	meshConfig, err := mesh.ApplyMeshConfig(meshData, mesh.DefaultMeshConfig())
	if err != nil {
		return nil, fmt.Errorf("mesh config: %v", err)
	}
	env := &model.Environment{Watcher: meshwatcher.NewTestWatcher(meshConfig), ConfigStore: model.NewFakeStore()}
	env.SetPushContext(&model.PushContext{ProxyConfigs: model.GetProxyConfigs(env.ConfigStore, meshConfig)})

	// NewWebhook builds its node informer only when the mode isn't "false" at start: start in auto.
	features.EnableNativeSidecars = features.NativeSidecarModeAuto
	clusters := multicluster.NewFakeController()
	mux := http.NewServeMux()
	webhook, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      staticWatcher{config: &parsed, values: values},
		Env:          env,
		Mux:          mux,
		Revision:     "default",
		MultiCluster: clusters,
	})
	if err != nil {
		return nil, err
	}
	client, err := kube.NewClient(kube.NewClientConfigForRestConfig(cluster), constants.DefaultClusterName)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	clusters.Add(constants.DefaultClusterName, client, stop)
	client.RunAndWait(stop)
	webhook.Run(stop)
	return mux, nil
}

// injector sets features.EnableNativeSidecars from the live cluster, then lets Istio's handler
// answer. One request at a time: the setting is a package variable of Istio's.
type injector struct {
	mu       sync.Mutex
	settings *liveSetting
	istio    http.Handler
}

func (i *injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var review struct {
		Request struct {
			Object struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
				Spec     struct {
					ServiceAccountName string `json:"serviceAccountName"`
				} `json:"spec"`
			} `json:"object"`
		} `json:"request"`
	}
	_ = json.Unmarshal(body, &review) // Istio's handler reports a malformed review itself
	revision := review.Request.Object.Metadata.Labels["istio.io/rev"]
	if revision == "" {
		revision = "default"
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	mode, source, err := i.settings.mode(r.Context(), revision)
	if err != nil {
		// As an unreachable istiod: the API server applies the webhook's failurePolicy.
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	features.EnableNativeSidecars = mode
	log.Printf("ENABLE_NATIVE_SIDECARS=%s (%s)", modeName(mode), source)
	answer := httptest.NewRecorder()
	i.istio.ServeHTTP(answer, r)
	out := answer.Body.Bytes()
	if answer.Code == http.StatusOK && review.Request.Object.Spec.ServiceAccountName == "" {
		if withAccount, err := addServiceAccount(out); err == nil {
			out = withAccount
		} else {
			log.Printf("leaving the answer as Istio gave it: %v", err)
		}
	}
	for name, values := range answer.Header() {
		w.Header()[name] = values
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(answer.Code)
	_, _ = w.Write(out)
}

// addServiceAccount adds `serviceAccountName: default` to Istio's patch, as the ServiceAccount
// admission plugin (off in the harness: no token controller) would have set it before any webhook
// ran. Without it the API server refuses the istio-token volume Istio injects
// ("serviceAccountToken: Forbidden: must not be specified when serviceAccountName is not set").
func addServiceAccount(answer []byte) ([]byte, error) {
	var review map[string]any
	if err := json.Unmarshal(answer, &review); err != nil {
		return nil, err
	}
	response, _ := review["response"].(map[string]any)
	encoded, _ := response["patch"].(string)
	if encoded == "" {
		return answer, nil // not injected: nothing to add the account for
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, err
	}
	var patch []any
	if err := json.Unmarshal(raw, &patch); err != nil {
		return nil, err
	}
	patch = append(patch, map[string]any{"op": "add", "path": "/spec/serviceAccountName", "value": "default"})
	if raw, err = json.Marshal(patch); err != nil {
		return nil, err
	}
	response["patch"] = base64.StdEncoding.EncodeToString(raw)
	return json.Marshal(review)
}

type liveSetting struct {
	kube    kubernetes.Interface
	dynamic dynamic.Interface
}

// mode is istiod's ENABLE_NATIVE_SIDECARS as the live cluster sets it, and where it came from.
func (s *liveSetting) mode(ctx context.Context, revision string) (features.NativeSidecarMode, string, error) {
	asm, err := s.dynamic.Resource(asmMeshConfigs).Get(ctx, "default", metav1.GetOptions{})
	if err == nil {
		if native, ok := asm.Object["spec"].(map[string]any)["enableNativeSidecar"].(bool); ok {
			if native {
				return features.NativeSidecarModeEnabled, "ASMMeshConfig/default", nil
			}
			return features.NativeSidecarModeDisabled, "ASMMeshConfig/default", nil
		}
	}
	istiods, err := s.kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return 0, "", err
	}
	for _, istiod := range istiods.Items {
		rev := istiod.Labels["istio.io/rev"]
		if rev == "" {
			rev = "default"
		}
		if rev != revision {
			continue
		}
		value, set := "", false
		for _, container := range istiod.Spec.Template.Spec.Containers {
			for _, variable := range container.Env {
				if variable.Name == "ENABLE_NATIVE_SIDECARS" {
					value, set = variable.Value, true
				}
			}
		}
		if !set {
			value = "auto" // env.Register's default in pilot/pkg/features/pilot.go
		}
		return parseMode(value), "istiod " + istiod.Namespace + "/" + istiod.Name, nil
	}
	return features.NativeSidecarModeDisabled, "no istiod for revision " + revision, nil
}

// parseMode reads ENABLE_NATIVE_SIDECARS as pilot/pkg/features/pilot.go does: exactly "true",
// "false" or "auto"; anything else is disabled.
func parseMode(value string) features.NativeSidecarMode {
	switch value {
	case "true":
		return features.NativeSidecarModeEnabled
	case "auto":
		return features.NativeSidecarModeAuto
	default:
		return features.NativeSidecarModeDisabled
	}
}

func modeName(mode features.NativeSidecarMode) string {
	switch mode {
	case features.NativeSidecarModeEnabled:
		return "true"
	case features.NativeSidecarModeAuto:
		return "auto"
	default:
		return "false"
	}
}
