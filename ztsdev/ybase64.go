package ztsdev

import "encoding/base64"

// ybase64 is Athenz's URL-safe base64 variant (libs/go/zmssvctoken/ybase64.go,
// YBase64.java): the standard alphabet with '+' -> '.', '/' -> '_' and the
// padding '=' -> '-'. Role token signatures and athenz.conf keys use it.
var ybase64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._").WithPadding('-')
