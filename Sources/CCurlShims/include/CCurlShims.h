#ifndef CCURL_SHIMS_H
#define CCURL_SHIMS_H
#include <curl/curl.h>

// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic: Swift cannot call them.
// One typed entry point per argument type.
CURLcode CCurlShims_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode CCurlShims_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode CCurlShims_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode CCurlShims_easy_setopt_write_callback(CURL *handle, CURLoption option,
                                               size_t (*callback)(char *, size_t, size_t, void *));
CURLcode CCurlShims_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLMcode CCurlShims_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
// CURLVERSION_NOW is a macro naming the newest version-info layout this header knows.
curl_version_info_data *CCurlShims_version_info(void);
#endif
