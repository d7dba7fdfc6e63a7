// placeholder: filled by the gateway issue
