/* A Node-API addon compiled by node-gyp at npm install. It links zlib, so
 * it needs the build image's zlib headers and the run image's libz. */
#include <node_api.h>
#include <zlib.h>

static napi_value hello(napi_env env, napi_callback_info info) {
	char msg[64] = "native addon, zlib ";
	napi_value out;
	int n = 19;
	for (const char *v = zlibVersion(); *v && n < 63; v++)
		msg[n++] = *v;
	napi_create_string_utf8(env, msg, n, &out);
	return out;
}

static napi_value init(napi_env env, napi_value exports) {
	napi_value fn;
	napi_create_function(env, "hello", NAPI_AUTO_LENGTH, hello, NULL, &fn);
	napi_set_named_property(env, exports, "hello", fn);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
