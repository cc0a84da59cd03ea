// Where the HTTP API is. Empty: the origin that serves this page (the offline stack serves both).
// Deployed to a static-assets bucket, overwrite this file with the stack's ApiUrl output.
window.CAMEO_CONFIG = { apiUrl: "" };
