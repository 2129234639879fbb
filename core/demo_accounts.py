"""The demo logins, printed by the run command and created by `manage.py load_demo`.

Kept free of Django imports so the launcher can print them before Django starts.
"""

DEMO_PASSWORD = "onetable-demo"

# (username, who it is)
DEMO_ACCOUNTS = [
    ("village", "村干部 · 青山县城关镇东门村 (village cadre)"),
    ("township", "乡镇干部 · 青山县城关镇人民政府 (township cadre)"),
    ("propaganda", "县委宣传部 分析员 (propaganda department analyst)"),
    ("culture", "县文广旅体局 分析员 (culture bureau analyst)"),
    ("civil", "县民政局 分析员 (civil affairs analyst)"),
    ("stats", "县统计局 分析员 (statistics bureau analyst)"),
    ("office", "县数据办管理员 (office admin)"),
]
