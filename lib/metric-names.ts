/** The namespace of the metrics the handlers emit (Powertools EMF) and the alarms and dashboard read. */
export const METRICS_NAMESPACE = "Auth0Sync";
