// Package crd decides Da Vinci CRD order hooks (order-sign, order-select,
// order-dispatch) and the DTR questionnaire package for the same orders: the
// gene therapy orders a request holds, each order's policy through the
// router, the pipeline's determination (cached by the digest of its inputs),
// and what the EHR gets back — the order updated with the
// coverage-information extension and the clinician's card, or the
// pre-filled QuestionnaireResponse.
//
// It is the logic behind serve's CDS Hooks and $questionnaire-package
// endpoints; serve stays the HTTP shell (routing, authentication, limits,
// metrics, and gathering the prefetch from the EHR). Refusals are
// *cdshooks.Error (400 unparseable, 422 against the rules).
package crd
