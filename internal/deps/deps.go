// Package deps pins modules that packages under construction will import, so
// that parallel work does not race on go.mod. It is removed once every module
// is imported by real code.
package deps

import (
	_ "cel.dev/expr"
	_ "cloud.google.com/go/asset/apiv1"
	_ "cloud.google.com/go/asset/apiv1/assetpb"
	_ "cloud.google.com/go/iam/apiv1/iampb"
	_ "cloud.google.com/go/logging"
	_ "cloud.google.com/go/logging/apiv2/loggingpb"
	_ "cloud.google.com/go/logging/logadmin"
	_ "cloud.google.com/go/pubsub/v2"
	_ "cloud.google.com/go/pubsub/v2/pstest"
	_ "github.com/chromedp/chromedp"
	_ "github.com/emersion/go-sasl"
	_ "github.com/emersion/go-smtp"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/google/cel-go/cel"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/wneessen/go-mail"
	_ "go.yaml.in/yaml/v3"
	_ "google.golang.org/api/cloudidentity/v1"
	_ "google.golang.org/api/cloudresourcemanager/v3"
	_ "google.golang.org/api/iamcredentials/v1"
	_ "google.golang.org/api/idtoken"
	_ "google.golang.org/grpc"
)
