"""Code systems, profile canonicals and the code tables the generator draws from.

The codes are real (ICD-10-CM, CPT, HCPCS, NDC, LOINC, CVX, RxNorm, NUBC, SNOMED
CT); the money amounts next to them are rough typical charges in cents, not
fee schedules. Shapes follow CARIN Blue Button 2.0.0 and US Core 6.1.0; the
profile canonicals are unversioned so they match either release.
"""

from __future__ import annotations

from typing import Final

# --- code systems --------------------------------------------------------------------------
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
NPI: Final = "http://hl7.org/fhir/sid/us-npi"
TIN: Final = "urn:oid:2.16.840.1.113883.4.4"
NUCC: Final = "http://nucc.org/provider-taxonomy"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS: Final = "http://www.cms.gov/Medicare/Coding/ICD10"
CPT: Final = "http://www.ama-assn.org/go/cpt"
HCPCS: Final = "https://bluebutton.cms.gov/resources/codesystem/hcpcs"
CDT: Final = "http://www.ada.org/cdt"
NDC: Final = "http://hl7.org/fhir/sid/ndc"
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
CVX: Final = "http://hl7.org/fhir/sid/cvx"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM: Final = "http://unitsofmeasure.org"
NUBC_REVENUE: Final = "https://www.nubc.org/CodeSystem/RevenueCodes"
NUBC_BILL_TYPE: Final = "https://www.nubc.org/CodeSystem/TypeOfBill"
NUBC_ADMIT_TYPE: Final = "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit"
NUBC_ORIGIN: Final = "https://www.nubc.org/CodeSystem/PointOfOrigin"
NUBC_DISCHARGE: Final = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
MS_DRG: Final = (
    "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/"
    "MS-DRG-Classifications-and-Software"
)
POS: Final = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
PAYEE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/payeetype"
PAYMENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
DIAGNOSIS_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
CARE_TEAM_ROLE: Final = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
SUBSCRIBER_RELATIONSHIP: Final = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/coverage-class"
SOPT: Final = "https://nahdo.org/sopt"
ORG_TYPE: Final = "http://terminology.hl7.org/CodeSystem/organization-type"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NCPDP_DAW: Final = (
    "http://terminology.hl7.org/CodeSystem/NCPDPDispensedAsWrittenOrProductSelectionCode"
)
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CAREPLAN_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"

C4BB: Final = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"
C4BB_IDENTIFIER_TYPE: Final = C4BB + "C4BBIdentifierType"
C4BB_SUBTYPE: Final = C4BB + "C4BBInstitutionalClaimSubType"
C4BB_SUPPORTING_INFO: Final = C4BB + "C4BBSupportingInfoType"
C4BB_ADJUDICATION: Final = C4BB + "C4BBAdjudication"
C4BB_DISCRIMINATOR: Final = C4BB + "C4BBAdjudicationDiscriminator"
C4BB_PAYMENT_STATUS: Final = C4BB + "C4BBPayerAdjudicationStatus"
C4BB_CARE_TEAM_ROLE: Final = C4BB + "C4BBClaimCareTeamRole"
C4BB_DIAGNOSIS_TYPE: Final = C4BB + "C4BBClaimDiagnosisType"
C4BB_PROCEDURE_TYPE: Final = C4BB + "C4BBClaimProcedureType"

# --- profiles ------------------------------------------------------------------------------
_C4BB_SD: Final = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
_US_CORE_SD: Final = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILE_PATIENT: Final = _C4BB_SD + "C4BB-Patient"
PROFILE_COVERAGE: Final = _C4BB_SD + "C4BB-Coverage"
PROFILE_ORGANIZATION: Final = _C4BB_SD + "C4BB-Organization"
PROFILE_PRACTITIONER: Final = _C4BB_SD + "C4BB-Practitioner"
PROFILE_EOB: Final = {
    "inpatient": _C4BB_SD + "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
    "outpatient": _C4BB_SD + "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
    "professional": _C4BB_SD + "C4BB-ExplanationOfBenefit-Professional-NonClinician",
    "pharmacy": _C4BB_SD + "C4BB-ExplanationOfBenefit-Pharmacy",
    "oral": _C4BB_SD + "C4BB-ExplanationOfBenefit-Oral",
}


def us_core(name: str) -> str:
    """The canonical URL of the US Core profile `us-core-<name>`."""
    return f"{_US_CORE_SD}us-core-{name}"


# --- the plan ------------------------------------------------------------------------------
PLAN_NAME: Final = "Cascade Community Health Plan"
PLAN_ALIAS: Final = "CCHP"
PLAN_DOMAIN: Final = "https://cascadecommunityhealth.example.org"
MEMBER_ID_SYSTEM: Final = PLAN_DOMAIN + "/fhir/member-id"
CLAIM_ID_SYSTEM: Final = PLAN_DOMAIN + "/fhir/claim-id"
COVERAGE_ID_SYSTEM: Final = PLAN_DOMAIN + "/fhir/coverage-id"
MEMBER_PREFIX: Final = "CCH"

# line of business -> (SOPT code, SOPT display, group id, group name, plan id, plan name,
#                      office copay cents, coinsurance percent, deductible cents)
LinesOfBusiness = dict[str, tuple[str, str, str, str, str, str, int, int, int]]
LINES_OF_BUSINESS: Final[LinesOfBusiness] = {
    "commercial": (
        "512",
        "Commercial Managed Care - PPO",
        "CCH-EMP-2041",
        "Cascade Employer Group PPO",
        "PPO-GOLD",
        "Cascade Gold PPO 1500",
        3000,
        20,
        150000,
    ),
    "medicare": (
        "111",
        "Medicare HMO",
        "CCH-MA-0107",
        "Cascade Medicare Advantage",
        "MA-HMO-PLUS",
        "Cascade Advantage Plus HMO",
        1000,
        20,
        0,
    ),
    "medicaid": (
        "211",
        "Medicaid HMO",
        "CCH-MCD-0300",
        "Cascade Apple Health Medicaid",
        "MCD-IMC",
        "Integrated Managed Care",
        0,
        0,
        0,
    ),
}

# --- people --------------------------------------------------------------------------------
GIVEN_FEMALE: Final = (
    "Mary-Ann", "Zoë", "Chloé", "Renée", "Siobhán", "Inés", "María José", "Anaïs",
    "Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper",
    "Nguyễn Thị", "Aaliyah", "Ngozi", "Priya", "Mei-Ling", "Fatima", "Björk", "Léa",
    "Ann-Marie", "Jo", "Grace", "Hannah", "Yesenia", "Dolores", "Ruth", "Keiko",
)  # fmt: skip
GIVEN_MALE: Final = (
    "José", "André", "François", "Jean-Luc", "Seán", "Ángel", "Jürgen", "Zoltán",
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas",
    "Mohammed", "Kwame", "Raj", "Hiroshi", "Dmitri", "Tomás", "Bjørn", "Joaquín",
    "D'Andre", "Jamal", "Ethan", "Samuel", "Luis", "Wei", "Michael", "Robert",
)  # fmt: skip
FAMILY: Final = (
    "O'Brien", "Núñez", "D'Angelo", "García-López", "Smith-Jones", "Müller", "Nguyễn",
    "Peña", "O'Connor", "McAllister", "St. John", "Ibáñez", "Søren", "Johnson", "Williams",
    "Brown", "Jones", "Miller", "Davis", "Rodríguez", "Martínez", "Hernández", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Lee", "Kim", "Patel",
    "Okafor", "Yamamoto", "Schäfer", "Dupré", "Lefèvre", "Van der Berg", "DeLaCruz",
    "Whitehorse", "Begay", "Chen", "Wang", "Singh", "Haddad", "Kowalczyk", "Ó Súilleabháin",
)  # fmt: skip
STREET_NAMES: Final = (
    "Cedar", "Rainier", "Alder", "Madrona", "Columbia", "Willamette", "Pine", "Union",
    "Burnside", "Hawthorne", "Pike", "Olympic", "Cascade", "Juniper", "Sitka", "Lake",
)  # fmt: skip
STREET_KINDS: Final = ("St", "Ave", "Way", "Blvd", "Ln", "Dr", "Ct", "Pl")
# (city, state, ZIP codes, area code)
CITIES: Final = (
    ("Seattle", "WA", ("98101", "98103", "98115", "98122", "98144"), "206"),
    ("Tacoma", "WA", ("98402", "98405", "98418"), "253"),
    ("Spokane", "WA", ("99201", "99205", "99223"), "509"),
    ("Yakima", "WA", ("98901", "98902"), "509"),
    ("Everett", "WA", ("98201", "98203"), "425"),
    ("Olympia", "WA", ("98501", "98502"), "360"),
    ("Vancouver", "WA", ("98660", "98683"), "360"),
    ("Portland", "OR", ("97201", "97211", "97214", "97266"), "503"),
    ("Salem", "OR", ("97301", "97302"), "503"),
    ("Eugene", "OR", ("97401", "97405"), "541"),
    ("Bend", "OR", ("97701", "97702"), "541"),
    ("Boise", "ID", ("83702", "83706"), "208"),
)

# --- providers -----------------------------------------------------------------------------
# NUCC taxonomy code -> display; the kind decides which claims a practitioner appears on.
TAXONOMY: Final = {
    "physician": (
        ("207Q00000X", "Family Medicine"),
        ("207R00000X", "Internal Medicine"),
        ("208000000X", "Pediatrics"),
        ("207RC0000X", "Cardiovascular Disease"),
        ("207X00000X", "Orthopaedic Surgery"),
        ("207P00000X", "Emergency Medicine"),
    ),
    "dentist": (("1223G0001X", "General Practice Dentistry"),),
    "pharmacist": (("183500000X", "Pharmacist"),),
}
PRACTITIONER_PREFIX: Final = {"physician": "Dr.", "dentist": "Dr.", "pharmacist": ""}
PRACTITIONER_SUFFIX: Final = {"physician": "MD", "dentist": "DDS", "pharmacist": "PharmD"}
# kind -> name patterns for provider organizations
ORG_NAMES: Final = {
    "hospital": ("{city} General Hospital", "St. Brigid Medical Center of {city}"),
    "clinic": ("{city} Family Clinic", "Evergreen Primary Care {city}", "{city} Heart Associates"),
    "pharmacy": ("Cascade Drug #{n} {city}", "Rainier Pharmacy {city}"),
    "dental": ("{city} Smiles Dental", "Pacific Dental Group {city}"),
}

# --- claims --------------------------------------------------------------------------------
# (ICD-10-CM code, display, SNOMED CT code for the matching problem)
DIAGNOSES: Final = (
    ("E11.9", "Type 2 diabetes mellitus without complications", "44054006"),
    ("I10", "Essential (primary) hypertension", "38341003"),
    ("E78.5", "Hyperlipidemia, unspecified", "55822004"),
    ("J45.909", "Unspecified asthma, uncomplicated", "195967001"),
    ("F32.9", "Major depressive disorder, single episode, unspecified", "35489007"),
    ("M54.50", "Low back pain, unspecified", "279039007"),
    ("J06.9", "Acute upper respiratory infection, unspecified", "54150009"),
    ("E66.9", "Obesity, unspecified", "414916001"),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis", "235595009"),
    ("N39.0", "Urinary tract infection, site not specified", "68566005"),
    ("J44.9", "Chronic obstructive pulmonary disease, unspecified", "13645005"),
    ("M17.11", "Unilateral primary osteoarthritis, right knee", "239873007"),
)
WELLNESS_DIAGNOSES: Final = (
    ("Z00.00", "Encounter for general adult medical examination without abnormal findings"),
    ("Z00.129", "Encounter for routine child health examination without abnormal findings"),
    ("Z23", "Encounter for immunization"),
)
# (ICD-10-CM principal, display, MS-DRG, ICD-10-PCS procedure, display)
ADMISSIONS: Final = (
    ("I21.4", "Non-ST elevation (NSTEMI) myocardial infarction", "282", "4A023N7",
     "Measurement of cardiac sampling and pressure, left heart, percutaneous"),
    ("J18.9", "Pneumonia, unspecified organism", "194", "5A09357",
     "Assistance with respiratory ventilation, <24 consecutive hours, CPAP"),
    ("M17.11", "Unilateral primary osteoarthritis, right knee", "470", "0SRC0J9",
     "Replacement of right knee joint with synthetic substitute, cemented, open approach"),
    ("K35.80", "Unspecified acute appendicitis", "343", "0DTJ4ZZ",
     "Resection of appendix, percutaneous endoscopic approach"),
    ("I50.9", "Heart failure, unspecified", "292", "B246ZZZ",
     "Ultrasonography of right and left heart"),
)  # fmt: skip
# (system, code, display, charge cents, place of service)
PROFESSIONAL_SERVICES: Final = (
    (CPT, "99213", "Office/outpatient visit, established patient, low complexity", 15500, "11"),
    (
        CPT,
        "99214",
        "Office/outpatient visit, established patient, moderate complexity",
        22000,
        "11",
    ),
    (CPT, "99203", "Office/outpatient visit, new patient, low complexity", 19000, "11"),
    (CPT, "99396", "Periodic preventive medicine visit, 40-64 years", 26000, "11"),
    (CPT, "99392", "Periodic preventive medicine visit, age 1 through 4 years", 21000, "11"),
    (CPT, "93000", "Electrocardiogram, routine, with interpretation and report", 6500, "11"),
    (CPT, "71046", "Radiologic examination, chest; 2 views", 9500, "22"),
    (CPT, "80053", "Comprehensive metabolic panel", 4500, "81"),
    (CPT, "83036", "Hemoglobin; glycosylated (A1C)", 3500, "81"),
    (CPT, "80061", "Lipid panel", 5000, "81"),
    (CPT, "99284", "Emergency department visit, moderate complexity", 68000, "23"),
    (CPT, "90834", "Psychotherapy, 45 minutes with patient", 14000, "02"),
    (HCPCS, "G0438", "Annual wellness visit; includes a personalized prevention plan", 17500, "11"),
    (HCPCS, "J1100", "Injection, dexamethasone sodium phosphate, 1 mg", 1200, "11"),
    (CPT, "97110", "Therapeutic exercises, each 15 minutes", 8500, "11"),
)
# (revenue code, display, CPT/HCPCS, charge cents)
OUTPATIENT_LINES: Final = (
    ("0450", "Emergency room - general", "99284", 185000),
    ("0300", "Laboratory - general", "80053", 22000),
    ("0320", "Radiology - diagnostic - general", "71046", 41000),
    ("0360", "Operating room services - general", "29881", 640000),
    ("0510", "Clinic - general", "99213", 32000),
    ("0636", "Drugs requiring detailed coding", "J1100", 9000),
    ("0730", "EKG/ECG - general", "93000", 26000),
)
# (revenue code, display, charge cents per day)
INPATIENT_LINES: Final = (
    ("0120", "Room & board - semi-private two bed - general", 280000),
    ("0250", "Pharmacy - general", 95000),
    ("0300", "Laboratory - general", 120000),
    ("0270", "Medical/surgical supplies - general", 70000),
    ("0360", "Operating room services - general", 900000),
    ("0410", "Respiratory services - general", 60000),
)
# (NDC 11-digit, display, RxNorm, RxNorm display, days supply, quantity, charge cents)
DRUGS: Final = (
    ("00093-1048-01", "Metformin HCl 500 MG Oral Tablet", "861007",
     "metformin hydrochloride 500 MG Oral Tablet", 30, 60, 1200),
    ("68180-0513-01", "Lisinopril 10 MG Oral Tablet", "314076",
     "lisinopril 10 MG Oral Tablet", 30, 30, 900),
    ("00071-0155-23", "Lipitor 10 MG Oral Tablet", "617312",
     "atorvastatin 10 MG Oral Tablet [Lipitor]", 30, 30, 21000),
    ("00378-3512-77", "Amlodipine 5 MG Oral Tablet", "197361",
     "amlodipine 5 MG Oral Tablet", 90, 90, 1500),
    ("00173-0682-20", "Ventolin HFA 90 MCG/ACTUAT Inhaler", "745752",
     "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler [Ventolin]", 30, 1, 6500),
    ("00093-7146-56", "Sertraline 50 MG Oral Tablet", "312940",
     "sertraline 50 MG Oral Tablet", 30, 30, 1100),
    ("00781-2613-01", "Omeprazole 20 MG Delayed Release Oral Capsule", "198053",
     "omeprazole 20 MG Delayed Release Oral Capsule", 30, 30, 1300),
    ("00093-4155-73", "Amoxicillin 500 MG Oral Capsule", "308191",
     "amoxicillin 500 MG Oral Capsule", 10, 30, 1400),
)  # fmt: skip
# (CDT code, display, charge cents)
DENTAL_SERVICES: Final = (
    ("D0120", "Periodic oral evaluation - established patient", 6500),
    ("D1110", "Prophylaxis - adult", 11000),
    ("D1120", "Prophylaxis - child", 7500),
    ("D0274", "Bitewings - four radiographic images", 8000),
    ("D2391", "Resin-based composite - one surface, posterior", 19500),
    ("D2740", "Crown - porcelain/ceramic", 125000),
    ("D7140", "Extraction, erupted tooth or exposed root", 21000),
)

# --- clinical ------------------------------------------------------------------------------
# (LOINC, display, UCUM unit, low, high, typical mean, sd, decimals)
LABS: Final = (
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 6.1, 1.2, 1),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70.0, 99.0, 104.0, 22.0, 0),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 0.0, 199.0, 190.0, 35.0, 0),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 40.0, 90.0, 52.0,
     12.0, 0),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL",
     0.0, 99.0, 112.0, 30.0, 0),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 0.0, 149.0, 140.0, 45.0,
     0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 0.95, 0.2, 2),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5, 14.1, 1.4, 1),
)  # fmt: skip
# US Core profile suffix -> (LOINC, display, unit, UCUM code)
VITALS: Final = {
    "heart-rate": ("8867-4", "Heart rate", "beats/minute", "/min"),
    "respiratory-rate": ("9279-1", "Respiratory rate", "breaths/minute", "/min"),
    "body-weight": ("29463-7", "Body weight", "kg", "kg"),
    "body-height": ("8302-2", "Body height", "cm", "cm"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2"),
    "body-temperature": ("8310-5", "Body temperature", "Cel", "Cel"),
}
BLOOD_PRESSURE: Final = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC: Final = ("8480-6", "Systolic blood pressure")
DIASTOLIC: Final = ("8462-4", "Diastolic blood pressure")
# (CVX, display, minimum age in years)
VACCINES: Final = (
    ("141", "Influenza, seasonal, injectable", 0),
    ("208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose", 12),
    ("115", "Tdap", 7),
    ("133", "Pneumococcal conjugate PCV 13", 0),
    ("187", "Zoster vaccine recombinant", 50),
    ("08", "Hep B, adolescent or pediatric", 0),
    ("03", "MMR", 1),
)
# (CPT code, display, encounter class code, class display)
ENCOUNTER_TYPES: Final = (
    ("99213", "Office or other outpatient visit, established patient", "AMB", "ambulatory"),
    ("99214", "Office or other outpatient visit, established patient", "AMB", "ambulatory"),
    ("99396", "Periodic preventive medicine, established patient", "AMB", "ambulatory"),
)
# (description, LOINC measure, upper target or 0 for none, UCUM unit)
GOALS: Final = (
    ("HbA1c below 7%", "4548-4", 7.0, "%"),
    ("Blood pressure below 140/90", "8480-6", 140.0, "mm[Hg]"),
    ("LDL cholesterol below 100 mg/dL", "18262-6", 100.0, "mg/dL"),
    ("Lose 5% of body weight", "29463-7", 0.0, "kg"),
)
PHQ2_PANEL: Final = ("55757-9", "Patient Health Questionnaire 2 item (PHQ-2) [Reported]")
PHQ2_ITEMS: Final = (
    ("44250-9", "Little interest or pleasure in doing things"),
    ("44255-8", "Feeling down, depressed, or hopeless"),
)
PHQ2_TOTAL: Final = (
    "55758-7",
    "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]",
)
# LOINC answer codes for the PHQ frequency scale, in score order 0..3
PHQ_ANSWERS: Final = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)
PHQ2_QUESTIONNAIRE: Final = "http://loinc.org/q/55757-9"
