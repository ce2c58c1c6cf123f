"""TAP 3 application tag numbers (GSMA TD.57, ASN.1 module ``TAP-0312``, IMPLICIT TAGS).

Every TAP type carries its own ``[APPLICATION n]`` tag, unique across the module, so an element is
known by its number wherever it appears. The numbers below were read from a public copy of the
TAP 3.12 ASN.1 module (the module is GSMA's; no text of it is vendored here, only the numbers a
decoder needs, which are facts of the wire format). The same numbers hold for releases 3.09-3.12
for every element roamlike reads; elements added by a later release are skipped as extensions.

Encoding facts (ITU-T X.690): an application-class tag is ``0x40`` (primitive) or ``0x60``
(constructed) plus the number when it is below 31; from 31 on it is ``0x5F``/``0x7F`` followed by
the number in base 128, most significant group first, bit 8 set on every byte but the last. A tagged
CHOICE (e.g. ``ChargeableSubscriber``) is always explicit: its tag wraps the chosen alternative.

References
----------
GSMA TD.57 "TAP 3.12 Format Specification", section 6 (ASN.1 module ``TAP-0312``).
ITU-T X.690 (BER), clauses 8.1.2 (identifier octets) and 8.1.3 (length octets).
"""

from __future__ import annotations

from typing import Final

# Structure of a batch
TRANSFER_BATCH: Final = 1
NOTIFICATION: Final = 2
CALL_EVENT_DETAIL_LIST: Final = 3
BATCH_CONTROL_INFO: Final = 4
ACCOUNTING_INFO: Final = 5
NETWORK_INFO: Final = 6
MESSAGE_DESCRIPTION_INFO_LIST: Final = 8
AUDIT_CONTROL_INFO: Final = 15

# Call events (the alternatives of CallEventDetail)
MOBILE_ORIGINATED_CALL: Final = 9
MOBILE_TERMINATED_CALL: Final = 10
SUPPL_SERVICE_EVENT: Final = 11
SERVICE_CENTRE_USAGE: Final = 12
GPRS_CALL: Final = 14
CONTENT_TRANSACTION: Final = 17
LOCATION_SERVICE: Final = 297
MESSAGING_EVENT: Final = 433
MOBILE_SESSION: Final = 434

#: Event tag -> the kind name roamlike uses (snake case of the TAP name).
EVENT_KINDS: Final[dict[int, str]] = {
    MOBILE_ORIGINATED_CALL: "mobile_originated_call",
    MOBILE_TERMINATED_CALL: "mobile_terminated_call",
    SUPPL_SERVICE_EVENT: "suppl_service_event",
    SERVICE_CENTRE_USAGE: "service_centre_usage",
    GPRS_CALL: "gprs_call",
    CONTENT_TRANSACTION: "content_transaction",
    LOCATION_SERVICE: "location_service",
    MESSAGING_EVENT: "messaging_event",
    MOBILE_SESSION: "mobile_session",
}

# Batch control, accounting, network and audit items
SENDER: Final = 196
RECIPIENT: Final = 182
FILE_SEQUENCE_NUMBER: Final = 109
RAP_FILE_SEQUENCE_NUMBER: Final = 181
FILE_CREATION_TIME_STAMP: Final = 108
TRANSFER_CUT_OFF_TIME_STAMP: Final = 227
FILE_AVAILABLE_TIME_STAMP: Final = 107
SPECIFICATION_VERSION_NUMBER: Final = 201
RELEASE_VERSION_NUMBER: Final = 189
FILE_TYPE_INDICATOR: Final = 110
LOCAL_CURRENCY: Final = 135
TAP_CURRENCY: Final = 210
CURRENCY_CONVERSION_LIST: Final = 80
CURRENCY_CONVERSION: Final = 106
EXCHANGE_RATE_CODE: Final = 105
NUMBER_OF_DECIMAL_PLACES: Final = 159
EXCHANGE_RATE: Final = 104
TAP_DECIMAL_PLACES: Final = 244
TAXATION_LIST: Final = 211
UTC_TIME_OFFSET_INFO_LIST: Final = 234
UTC_TIME_OFFSET_INFO: Final = 233
UTC_TIME_OFFSET_CODE: Final = 232
UTC_TIME_OFFSET: Final = 231
REC_ENTITY_INFO_LIST: Final = 188
REC_ENTITY_INFORMATION: Final = 183
REC_ENTITY_CODE: Final = 184
REC_ENTITY_TYPE: Final = 186
REC_ENTITY_ID: Final = 400
REC_ENTITY_CODE_LIST: Final = 185
EARLIEST_CALL_TIME_STAMP: Final = 101
LATEST_CALL_TIME_STAMP: Final = 133
TOTAL_CHARGE: Final = 415
TOTAL_TAX_VALUE: Final = 226
TOTAL_DISCOUNT_VALUE: Final = 225
CALL_EVENT_DETAILS_COUNT: Final = 43
LOCAL_TIME_STAMP: Final = 16

# Call-event items
MO_BASIC_CALL_INFORMATION: Final = 147
MT_BASIC_CALL_INFORMATION: Final = 153
GPRS_BASIC_CALL_INFORMATION: Final = 114
GPRS_CHARGEABLE_SUBSCRIBER: Final = 115
GPRS_DESTINATION: Final = 116
ACCESS_POINT_NAME_NI: Final = 261
GPRS_LOCATION_INFORMATION: Final = 117
GPRS_NETWORK_LOCATION: Final = 118
GPRS_SERVICE_USED: Final = 121
CHARGING_ID: Final = 72
CHARGEABLE_SUBSCRIBER: Final = 427
SIM_CHARGEABLE_SUBSCRIBER: Final = 199
GSM_CHARGEABLE_SUBSCRIBER: Final = 286
CHARGED_PARTY: Final = 436
IMSI: Final = 129
MSISDN: Final = 152
DESTINATION: Final = 89
CALLED_NUMBER: Final = 407
CALL_EVENT_START_TIME_STAMP: Final = 44
SERVICE_START_TIMESTAMP: Final = 447
DEPOSIT_TIME_STAMP: Final = 88
TOTAL_CALL_EVENT_DURATION: Final = 223
LOCATION_INFORMATION: Final = 138
NETWORK_LOCATION: Final = 156
BASIC_SERVICE_USED_LIST: Final = 38
BASIC_SERVICE_USED: Final = 39
BASIC_SERVICE: Final = 36
BASIC_SERVICE_CODE: Final = 426
TELE_SERVICE_CODE: Final = 218
BEARER_SERVICE_CODE: Final = 40
CHARGE_INFORMATION_LIST: Final = 70
CHARGE_INFORMATION: Final = 69
SESSION_CHARGE_INFORMATION: Final = 449
CHARGED_ITEM: Final = 66
CALL_TYPE_GROUP: Final = 258
CALL_TYPE_LEVEL1: Final = 259
CALL_TYPE_LEVEL2: Final = 255
CALL_TYPE_LEVEL3: Final = 256
CHARGE_DETAIL_LIST: Final = 64
CHARGE_DETAIL: Final = 63
CHARGE_TYPE: Final = 71
CHARGE: Final = 62
CHARGEABLE_UNITS: Final = 65
CHARGED_UNITS: Final = 68
TAX_INFORMATION_LIST: Final = 214
TAX_INFORMATION: Final = 213
TAX_CODE: Final = 212
TAX_VALUE: Final = 397
DISCOUNT_INFORMATION: Final = 96
DISCOUNT_CODE: Final = 91
DISCOUNT: Final = 412
DATA_VOLUME_INCOMING: Final = 250
DATA_VOLUME_OUTGOING: Final = 251
MESSAGING_EVENT_SERVICE: Final = 439
MOBILE_SESSION_SERVICE: Final = 440
EVENT_REFERENCE: Final = 435
OPERATOR_SPEC_INFO_LIST: Final = 162
