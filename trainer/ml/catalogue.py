"""The fixed "world" the dataset generator samples from: departments, job roles and skills.

Kept apart from the sampling code so the believable part (which roles need which skills,
which skills the market will want) can be read and reviewed as data. Every generated file,
whatever its seed, draws from this same world: a seed changes the sample, not the truths the
model is meant to learn.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEPARTMENT_CATEGORY_RELEVANCE", "ROLES", "SKILLS", "Role", "Skill"]


@dataclass(frozen=True)
class Skill:
    """A skill and its market position.

    demand: where the market is heading, -1 (fading) to 1 (everyone will want it).
    supply: how common the skill already is among candidates, 0 (rare) to 1 (everywhere).
    """

    name: str
    category: str
    demand: float
    supply: float


@dataclass(frozen=True)
class Role:
    """A job role; `core_skills` are the ones it relies on most, beyond its department's habits.

    salary_k is the typical yearly salary in thousands; seniority (0-1) makes hiring harder.
    """

    name: str
    department: str
    salary_k: float
    seniority: float
    core_skills: tuple[str, ...]


SKILLS: tuple[Skill, ...] = (
    # Technique
    Skill("Python", "Technique", 0.6, 0.6),
    Skill("Java", "Technique", 0.0, 0.7),
    Skill("JavaScript", "Technique", 0.2, 0.8),
    Skill("TypeScript", "Technique", 0.5, 0.5),
    Skill("SQL", "Technique", 0.2, 0.8),
    Skill("Cloud Computing (AWS/Azure)", "Technique", 0.8, 0.4),
    Skill("Docker & Kubernetes", "Technique", 0.7, 0.35),
    Skill("DevOps", "Technique", 0.6, 0.4),
    Skill("Cybersécurité", "Technique", 0.9, 0.2),
    Skill("Linux", "Technique", 0.1, 0.6),
    Skill("Réseaux", "Technique", -0.1, 0.5),
    Skill("API REST", "Technique", 0.3, 0.7),
    Skill("Microservices", "Technique", 0.4, 0.4),
    Skill("COBOL", "Technique", -0.8, 0.1),
    Skill("Mainframe", "Technique", -0.9, 0.15),
    Skill("Infrastructure as Code", "Technique", 0.7, 0.25),
    Skill("Tests automatisés", "Technique", 0.4, 0.45),
    Skill("Développement mobile", "Technique", 0.2, 0.5),
    # Data & IA
    Skill("Machine Learning", "Data & IA", 0.85, 0.3),
    Skill("Deep Learning", "Data & IA", 0.75, 0.2),
    Skill("IA générative", "Data & IA", 1.0, 0.1),
    Skill("MLOps", "Data & IA", 0.85, 0.15),
    Skill("Data Analysis", "Data & IA", 0.5, 0.6),
    Skill("Analyse de données", "Data & IA", 0.5, 0.6),
    Skill("Data Engineering", "Data & IA", 0.7, 0.3),
    Skill("Data Visualisation", "Data & IA", 0.3, 0.55),
    Skill("Statistiques", "Data & IA", 0.3, 0.5),
    Skill("Big Data (Spark)", "Data & IA", 0.4, 0.3),
    Skill("Prompt Engineering", "Data & IA", 0.8, 0.2),
    Skill("Data Governance", "Data & IA", 0.6, 0.25),
    Skill("Power BI", "Data & IA", 0.2, 0.6),
    Skill("Excel avancé", "Data & IA", -0.3, 0.9),
    # Soft Skill
    Skill("Communication", "Soft Skill", 0.3, 0.8),
    Skill("Adaptabilité", "Soft Skill", 0.6, 0.5),
    Skill("Résolution de problèmes", "Soft Skill", 0.5, 0.6),
    Skill("Travail d'équipe", "Soft Skill", 0.2, 0.85),
    Skill("Gestion du temps", "Soft Skill", 0.0, 0.8),
    Skill("Esprit critique", "Soft Skill", 0.6, 0.4),
    Skill("Créativité", "Soft Skill", 0.4, 0.5),
    Skill("Intelligence émotionnelle", "Soft Skill", 0.5, 0.4),
    Skill("Négociation", "Soft Skill", 0.2, 0.5),
    Skill("Prise de parole", "Soft Skill", 0.1, 0.6),
    Skill("Apprentissage continu", "Soft Skill", 0.7, 0.4),
    Skill("Collaboration à distance", "Soft Skill", 0.4, 0.6),
    Skill("Pensée systémique", "Soft Skill", 0.5, 0.25),
    Skill("Service client", "Soft Skill", -0.2, 0.8),
    # Business
    Skill("Analyse financière", "Business", 0.1, 0.5),
    Skill("Marketing digital", "Business", 0.4, 0.5),
    Skill("Gestion RH", "Business", 0.0, 0.6),
    Skill("Gestion de projet", "Business", 0.2, 0.7),
    Skill("Stratégie d'entreprise", "Business", 0.3, 0.35),
    Skill("Relation client", "Business", 0.1, 0.7),
    Skill("SEO/SEA", "Business", 0.1, 0.5),
    Skill("Contrôle de gestion", "Business", -0.1, 0.5),
    Skill("Supply chain", "Business", 0.3, 0.4),
    Skill("Achats", "Business", -0.1, 0.5),
    Skill("Vente consultative", "Business", 0.2, 0.45),
    Skill("Product management", "Business", 0.5, 0.3),
    # Management
    Skill("Leadership", "Management", 0.4, 0.5),
    Skill("Management d'équipe", "Management", 0.2, 0.55),
    Skill("Conduite du changement", "Management", 0.6, 0.3),
    Skill("Gestion de projet agile", "Management", 0.4, 0.5),
    Skill("Coaching", "Management", 0.3, 0.4),
    Skill("Gestion des talents", "Management", 0.4, 0.35),
    Skill("Pilotage de la performance", "Management", 0.1, 0.45),
    Skill("Management à distance", "Management", 0.5, 0.3),
    Skill("Gestion budgétaire", "Management", 0.0, 0.5),
    Skill("Prise de décision", "Management", 0.3, 0.5),
    # Conformité
    Skill("RGPD", "Conformité", 0.5, 0.35),
    Skill("Gestion des risques", "Conformité", 0.5, 0.35),
    Skill("Conformité réglementaire", "Conformité", 0.4, 0.3),
    Skill("Audit interne", "Conformité", 0.0, 0.4),
    Skill("ISO 27001", "Conformité", 0.6, 0.15),
    Skill("Éthique de l'IA", "Conformité", 0.8, 0.1),
    Skill("Reporting ESG", "Conformité", 0.7, 0.15),
    Skill("Droit du travail", "Conformité", 0.0, 0.45),
    Skill("Sécurité au travail", "Conformité", -0.1, 0.55),
    Skill("Normes IFRS", "Conformité", 0.0, 0.3),
)

# How much a department's roles use each skill category, 0 (never) to 1 (daily).
DEPARTMENT_CATEGORY_RELEVANCE: dict[str, dict[str, float]] = {
    "IT": {"Technique": 0.9, "Data & IA": 0.4, "Soft Skill": 0.4, "Business": 0.2,
           "Management": 0.3, "Conformité": 0.5},
    "Tech": {"Technique": 0.9, "Data & IA": 0.5, "Soft Skill": 0.5, "Business": 0.3,
             "Management": 0.3, "Conformité": 0.2},
    "Data": {"Technique": 0.6, "Data & IA": 0.95, "Soft Skill": 0.4, "Business": 0.3,
             "Management": 0.2, "Conformité": 0.4},
    "RH": {"Technique": 0.05, "Data & IA": 0.25, "Soft Skill": 0.8, "Business": 0.6,
           "Management": 0.7, "Conformité": 0.5},
    "Finance": {"Technique": 0.15, "Data & IA": 0.6, "Soft Skill": 0.4, "Business": 0.8,
                "Management": 0.4, "Conformité": 0.7},
    "Marketing": {"Technique": 0.2, "Data & IA": 0.5, "Soft Skill": 0.7, "Business": 0.8,
                  "Management": 0.4, "Conformité": 0.3},
    "Ventes": {"Technique": 0.1, "Data & IA": 0.3, "Soft Skill": 0.85, "Business": 0.8,
               "Management": 0.4, "Conformité": 0.2},
    "Opérations": {"Technique": 0.2, "Data & IA": 0.35, "Soft Skill": 0.5, "Business": 0.7,
                   "Management": 0.6, "Conformité": 0.6},
}  # fmt: skip

# fmt: off
ROLES: tuple[Role, ...] = (
    Role("IT Manager", "IT", 85, 0.8, ("Leadership", "Cybersécurité", "Gestion budgétaire")),
    Role("Cloud Architect", "IT", 90, 0.8,
         ("Cloud Computing (AWS/Azure)", "Infrastructure as Code", "Docker & Kubernetes")),
    Role("Cybersecurity Analyst", "IT", 70, 0.5, ("Cybersécurité", "ISO 27001", "Réseaux")),
    Role("DevOps Engineer", "IT", 68, 0.5, ("DevOps", "Docker & Kubernetes", "Linux")),
    Role("Administrateur Systèmes", "IT", 50, 0.3, ("Linux", "Réseaux", "Mainframe")),
    Role("Software Engineer", "Tech", 62, 0.4, ("Java", "Python", "Tests automatisés")),
    Role("Full Stack Developer", "Tech", 58, 0.4, ("JavaScript", "TypeScript", "API REST")),
    Role("Scrum Master", "Tech", 60, 0.5, ("Gestion de projet agile", "Coaching", "Communication")),
    Role("Product Manager", "Tech", 75, 0.6,
         ("Product management", "Stratégie d'entreprise", "Prise de décision")),
    Role("QA Engineer", "Tech", 50, 0.3, ("Tests automatisés", "Python", "Esprit critique")),
    Role("Data Scientist", "Data", 72, 0.5, ("Machine Learning", "Python", "Statistiques")),
    Role("Data Engineer", "Data", 68, 0.5, ("Data Engineering", "Big Data (Spark)", "SQL")),
    Role("Machine Learning Engineer", "Data", 80, 0.6, ("MLOps", "Deep Learning", "IA générative")),
    Role("Data Analyst", "Data", 52, 0.3, ("Analyse de données", "SQL", "Data Visualisation")),
    Role("BI Developer", "Data", 55, 0.4, ("Power BI", "SQL", "Data Governance")),
    Role("HR Manager", "RH", 70, 0.7, ("Gestion RH", "Droit du travail", "Leadership")),
    Role("Responsable RH", "RH", 65, 0.7, ("Gestion des talents", "Gestion RH", "Communication")),
    Role("Talent Acquisition Specialist", "RH", 48, 0.3,
         ("Gestion des talents", "Négociation", "Communication")),
    Role("Chargé de formation", "RH", 42, 0.3,
         ("Apprentissage continu", "Prise de parole", "Gestion de projet")),
    Role("HR Business Partner", "RH", 62, 0.6,
         ("Conduite du changement", "Intelligence émotionnelle", "Gestion RH")),
    Role("Financial Analyst", "Finance", 58, 0.4,
         ("Analyse financière", "Excel avancé", "Normes IFRS")),
    Role("Business Analyst", "Finance", 55, 0.4,
         ("Analyse de données", "Gestion de projet", "Analyse financière")),
    Role("Contrôleur de gestion", "Finance", 56, 0.4,
         ("Contrôle de gestion", "Excel avancé", "Pilotage de la performance")),
    Role("Comptable", "Finance", 40, 0.2, ("Normes IFRS", "Excel avancé", "Audit interne")),
    Role("Risk Manager", "Finance", 78, 0.7,
         ("Gestion des risques", "Conformité réglementaire", "Reporting ESG")),
    Role("Marketing Manager", "Marketing", 68, 0.6,
         ("Marketing digital", "Leadership", "Stratégie d'entreprise")),
    Role("Growth Marketer", "Marketing", 52, 0.4, ("SEO/SEA", "Analyse de données", "Créativité")),
    Role("Content Manager", "Marketing", 42, 0.3,
         ("Créativité", "IA générative", "Marketing digital")),
    Role("Brand Manager", "Marketing", 60, 0.5,
         ("Stratégie d'entreprise", "Créativité", "Communication")),
    Role("SEO Specialist", "Marketing", 45, 0.3, ("SEO/SEA", "Data Analysis", "JavaScript")),
    Role("Account Manager", "Ventes", 50, 0.4,
         ("Relation client", "Négociation", "Vente consultative")),
    Role("Sales Manager", "Ventes", 72, 0.6,
         ("Management d'équipe", "Négociation", "Pilotage de la performance")),
    Role("Customer Success Manager", "Ventes", 48, 0.3,
         ("Relation client", "Service client", "Communication")),
    Role("Business Developer", "Ventes", 55, 0.4,
         ("Vente consultative", "Prise de parole", "Stratégie d'entreprise")),
    Role("Ingénieur avant-vente", "Ventes", 70, 0.6,
         ("Cloud Computing (AWS/Azure)", "Vente consultative", "API REST")),
    Role("Supply Chain Manager", "Opérations", 70, 0.6,
         ("Supply chain", "Gestion des risques", "Analyse de données")),
    Role("Operations Manager", "Opérations", 66, 0.6,
         ("Management d'équipe", "Pilotage de la performance", "Conduite du changement")),
    Role("Acheteur", "Opérations", 48, 0.3, ("Achats", "Négociation", "Reporting ESG")),
    Role("Chef de projet industriel", "Opérations", 60, 0.5,
         ("Gestion de projet", "Sécurité au travail", "Prise de décision")),
    Role("Quality Manager", "Opérations", 58, 0.5,
         ("Audit interne", "Conformité réglementaire", "Pensée systémique")),
)
# fmt: on
