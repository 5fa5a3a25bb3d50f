#include "fwd_status.h"

#define FWD_STATUS_CASE_TEXT(name, value, text) case value: return text;
#define FWD_STATUS_CASE_NAME(name, value, text) case value: return #name;

const char *fwd_strerror(int status)
{
    switch (status) {
    FWD_STATUS_LIST(FWD_STATUS_CASE_TEXT)
    default: return "unknown status";
    }
}

const char *fwd_status_name(int status)
{
    switch (status) {
    FWD_STATUS_LIST(FWD_STATUS_CASE_NAME)
    default: return "FWD_ERR_UNKNOWN";
    }
}
