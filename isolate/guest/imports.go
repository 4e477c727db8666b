//go:build wasip1

package guest

import "unsafe"

// Host functions of the http-wasm handler ABI (module "http_handler"). A Go
// string parameter is passed as two i32 values, pointer and length, which is
// exactly how the ABI passes a string; buffers the host writes into are passed
// as a pointer and a limit.

//go:wasmimport http_handler enable_features
func hostEnableFeatures(features uint32) uint32

//go:wasmimport http_handler get_config
func hostGetConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log_enabled
func hostLogEnabled(level int32) uint32

//go:wasmimport http_handler get_method
func hostGetMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_method
func hostSetMethod(method string)

//go:wasmimport http_handler get_uri
func hostGetURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_uri
func hostSetURI(uri string)

//go:wasmimport http_handler get_protocol_version
func hostGetProtocolVersion(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_source_addr
func hostGetSourceAddr(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_names
func hostGetHeaderNames(kind int32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler get_header_values
func hostGetHeaderValues(kind int32, name string, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func hostSetHeaderValue(kind int32, name, value string)

//go:wasmimport http_handler add_header_value
func hostAddHeaderValue(kind int32, name, value string)

//go:wasmimport http_handler remove_header
func hostRemoveHeader(kind int32, name string)

//go:wasmimport http_handler read_body
func hostReadBody(kind int32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler write_body
func hostWriteBody(kind int32, body unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_status_code
func hostGetStatusCode() uint32

//go:wasmimport http_handler set_status_code
func hostSetStatusCode(code uint32)

// Host functions of edged's own module, version 1 (docs/abi.md).

//go:wasmimport edged abi_version
func hostABIVersion() int32

//go:wasmimport edged secret_get
func hostSecretGet(name string, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport edged log_fields
func hostLogFields(level int32, msg string, fields unsafe.Pointer, n uint32)

//go:wasmimport edged fetch
func hostFetch(method, url string, headers unsafe.Pointer, headersLen uint32, body unsafe.Pointer, bodyLen uint32) int32

//go:wasmimport edged fetch_status
func hostFetchStatus(handle int32) int32

//go:wasmimport edged fetch_headers
func hostFetchHeaders(handle int32, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport edged fetch_read
func hostFetchRead(handle int32, buf unsafe.Pointer, limit uint32) int64

//go:wasmimport edged fetch_close
func hostFetchClose(handle int32)

// ptr returns the address of b's first byte as the host sees it; nil for an
// empty slice, which the host never dereferences because the length is 0.
func ptr(b []byte) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(b))
}

// Version 2 of edged's module. Declared last: see codes.go on line numbers.

//go:wasmimport edged publish
func hostPublish(subject, ceType string, data unsafe.Pointer, n uint32) int32
