#ifndef APHEX_CCURL_SHIM_H
#define APHEX_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic and cannot be called from Swift.
   These typed wrappers are the only way aphex sets options. */
typedef size_t (*aphex_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);

static inline CURLcode aphex_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_offset(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_callback(CURL *h, CURLoption o, aphex_curl_data_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aphex_curl_setopt_blob(CURL *h, CURLoption o, void *data, size_t len) {
    struct curl_blob b; b.data = data; b.len = len; b.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(h, o, &b);
}
static inline CURLcode aphex_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode aphex_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode aphex_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
/* CURLOPT_XFERINFOFUNCTION: progress/cancellation hook (returning non-zero aborts). */
typedef int (*aphex_curl_xferinfo_cb)(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode aphex_curl_setopt_xferinfo(CURL *h, aphex_curl_xferinfo_cb v) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, v); }
/* The multi interface (one connection cache for every transfer; HTTP/2 multiplexing). */
static inline CURLMcode aphex_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
/* CURLMsg's result lives in a union. */
static inline CURLcode aphex_curl_msg_result(const CURLMsg *m) { return m->data.result; }
static inline CURLcode aphex_curl_global_init_all(void) { return curl_global_init(CURL_GLOBAL_ALL); }
/* 0xXXYYZZ, e.g. 0x075800 for 7.88.0 */
static inline unsigned int aphex_curl_version_num(void) { return curl_version_info(CURLVERSION_NOW)->version_num; }
static inline const char *aphex_curl_ssl_version(void) { const char *s = curl_version_info(CURLVERSION_NOW)->ssl_version; return s ? s : ""; }
#endif
