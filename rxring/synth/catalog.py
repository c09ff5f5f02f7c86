"""Static content of the synthetic city: drugs, districts, chains, suppliers.

Everything here is plain data (no randomness).  Prices are retail prices in yuan
for one coded pack; ``pack_units`` is the number of smallest units (tablets,
capsules, pens) in that pack, as in the products master table of DESIGN §2.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Drug",
    "DRUGS",
    "DISTRICTS",
    "OTHER_CITY_DISTRICTS",
    "CHAINS",
    "STORE_WORDS",
    "HOSPITAL_NAMES",
    "SUPPLIERS",
    "RECYCLER_NAMES",
]


@dataclass(frozen=True)
class Drug:
    """One catalogue entry.

    Attributes
    ----------
    name : str
        Generic name and specification, e.g. ``阿托伐他汀钙片 20mg*7片``.
    pack_units : int
        Smallest units in one coded pack.
    price : float
        Retail price of one pack (yuan).
    atc : str
        First letter of the ATC class (used in the insurance drug code).
    chronic : bool
        Taken for a chronic disease (monthly refills) rather than an acute episode.
    weight : float
        Relative popularity among patients.
    packs_per_month : int
        Packs a chronic patient takes per monthly refill.
    season : float
        Winter peak strength for acute drugs (0 = no seasonality).
    """

    name: str
    pack_units: int
    price: float
    atc: str
    chronic: bool
    weight: float
    packs_per_month: int = 1
    season: float = 0.0

    @property
    def resale_value(self) -> bool:
        """Expensive enough that brokers (药贩子) collect it."""
        return self.price >= 90.0


# Ordered by how common they are; ``--products N`` keeps the first N (the first
# few include the high-value drugs rings trade in, so every city has some).
DRUGS: tuple[Drug, ...] = (
    Drug("阿托伐他汀钙片 20mg*7片", 7, 38.5, "C", True, 10.0, 4),
    Drug("氨氯地平片 5mg*28片", 28, 42.0, "C", True, 9.0, 1),
    Drug("二甲双胍缓释片 0.5g*30片", 30, 25.8, "A", True, 9.0, 2),
    Drug("恩替卡韦分散片 0.5mg*28片", 28, 198.0, "J", True, 3.0, 1),
    Drug("瑞舒伐他汀钙片 10mg*28片", 28, 56.0, "C", True, 7.0, 1),
    Drug("氯吡格雷片 75mg*7片", 7, 118.0, "B", True, 5.0, 4),
    Drug("甘精胰岛素注射液 3ml:300单位", 1, 176.0, "A", True, 3.5, 2),
    Drug("缬沙坦胶囊 80mg*28粒", 28, 49.5, "C", True, 6.0, 1),
    Drug("奥美拉唑肠溶胶囊 20mg*14粒", 14, 22.0, "A", False, 6.0, 1, 0.1),
    Drug("利伐沙班片 10mg*10片", 10, 152.0, "B", True, 2.5, 3),
    Drug("沙库巴曲缬沙坦钠片 100mg*14片", 14, 178.0, "C", True, 2.5, 2),
    Drug("替格瑞洛片 90mg*14片", 14, 98.0, "B", True, 2.0, 4),
    Drug("来那度胺胶囊 25mg*21粒", 21, 1980.0, "L", True, 0.4, 1),
    Drug("硝苯地平控释片 30mg*7片", 7, 31.0, "C", True, 5.0, 4),
    Drug("阿卡波糖片 50mg*30片", 30, 46.0, "A", True, 5.0, 3),
    Drug("达格列净片 10mg*14片", 14, 65.0, "A", True, 3.0, 2),
    Drug("阿莫西林胶囊 0.25g*24粒", 24, 12.5, "J", False, 5.0, 1, 0.4),
    Drug("司美格鲁肽注射液 1.34mg/ml*1.5ml", 1, 398.0, "A", True, 1.0, 1),
    Drug("厄贝沙坦片 150mg*7片", 7, 28.6, "C", True, 4.0, 4),
    Drug("布洛芬缓释胶囊 0.3g*20粒", 20, 16.8, "M", False, 4.0, 1, 0.5),
    Drug("丙酚替诺福韦片 25mg*30片", 30, 268.0, "J", True, 1.0, 1),
    Drug("美托洛尔缓释片 47.5mg*7片", 7, 19.8, "C", True, 4.0, 4),
    Drug("阿司匹林肠溶片 100mg*30片", 30, 15.6, "B", True, 6.0, 1),
    Drug("连花清瘟胶囊 0.35g*24粒", 24, 14.8, "R", False, 3.0, 1, 1.0),
    Drug("奥希替尼片 80mg*30片", 30, 5100.0, "L", True, 0.2, 1),
    Drug("格列美脲片 2mg*30片", 30, 36.0, "A", True, 3.0, 1),
    Drug("西格列汀片 100mg*7片", 7, 45.0, "A", True, 2.0, 4),
    Drug("门冬胰岛素注射液 3ml:300单位", 1, 72.0, "A", True, 2.0, 3),
    Drug("头孢克肟胶囊 100mg*6粒", 6, 28.0, "J", False, 3.0, 2, 0.4),
    Drug("替米沙坦片 80mg*7片", 7, 26.0, "C", True, 3.0, 4),
    Drug("非布司他片 40mg*16片", 16, 58.0, "M", True, 2.0, 2),
    Drug("孟鲁司特钠片 10mg*5片", 5, 38.0, "R", False, 2.0, 2, 0.6),
    Drug("阿达木单抗注射液 40mg/0.8ml", 1, 1150.0, "L", True, 0.3, 2),
    Drug("奥司他韦胶囊 75mg*10粒", 10, 62.0, "J", False, 1.5, 1, 1.5),
    Drug("蒙脱石散 3g*10袋", 10, 18.5, "A", False, 2.0, 1, 0.3),
    Drug("氯雷他定片 10mg*6片", 6, 19.0, "R", False, 2.0, 2, -0.4),
    Drug("坎地沙坦酯片 8mg*14片", 14, 32.0, "C", True, 2.5, 2),
    Drug("依折麦布片 10mg*10片", 10, 48.0, "C", True, 1.5, 3),
    Drug("瑞格列奈片 1mg*30片", 30, 27.0, "A", True, 2.0, 2),
    Drug("噻托溴铵粉吸入剂 18ug*10粒", 10, 185.0, "R", True, 1.0, 3),
    Drug("布地奈德福莫特罗吸入粉雾剂 160ug/4.5ug*60吸", 1, 228.0, "R", True, 1.0, 1),
    Drug("他克莫司胶囊 1mg*50粒", 50, 480.0, "L", True, 0.3, 2),
    Drug("雷贝拉唑钠肠溶片 10mg*14片", 14, 35.0, "A", False, 2.0, 1, 0.1),
    Drug("吲达帕胺缓释片 1.5mg*30片", 30, 21.0, "C", True, 2.0, 1),
    Drug("甲钴胺片 0.5mg*20片", 20, 22.0, "B", True, 2.0, 4),
    Drug("艾司西酞普兰片 10mg*7片", 7, 52.0, "N", True, 1.5, 4),
    Drug("左乙拉西坦片 0.5g*30片", 30, 96.0, "N", True, 1.0, 2),
    Drug("多奈哌齐片 5mg*28片", 28, 118.0, "N", True, 1.0, 1),
    Drug("恩格列净片 10mg*10片", 10, 49.0, "A", True, 1.5, 3),
    Drug("莫西沙星片 0.4g*3片", 3, 45.0, "J", False, 1.5, 2, 0.4),
    Drug("碳酸钙D3片 600mg*60片", 60, 36.0, "A", True, 2.0, 1),
    Drug("单硝酸异山梨酯缓释片 40mg*24片", 24, 34.5, "C", True, 1.5, 1),
)

# Beijing districts (region column of the sites master) and their population weight.
DISTRICTS: tuple[tuple[str, float], ...] = (
    ("朝阳区", 3.4), ("海淀区", 3.1), ("丰台区", 2.0), ("昌平区", 2.2), ("大兴区", 2.0),
    ("通州区", 1.8), ("西城区", 1.1), ("东城区", 0.7), ("顺义区", 1.3), ("房山区", 1.3),
    ("石景山区", 0.6), ("门头沟区", 0.4),
)
# A neighbouring city whose sites appear in the data (cross-city purchases and rings).
OTHER_CITY_DISTRICTS: tuple[tuple[str, float], ...] = (
    ("廊坊市广阳区", 0.6), ("廊坊市三河市", 0.5), ("天津市武清区", 0.4),
)

# Pharmacy chains (name, share of chain stores).
CHAINS: tuple[tuple[str, float], ...] = (
    ("同仁堂", 2.0), ("金象大药房", 2.0), ("嘉事堂", 1.5), ("医保全新大药房", 1.5),
    ("老百姓大药房", 1.2), ("国大药房", 1.0), ("益丰大药房", 0.8),
)
STORE_WORDS: tuple[str, ...] = (
    "康泰", "仁心", "惠民", "百姓", "益康", "安康", "济民", "永安", "万和", "德仁", "福康", "健之佳",
)
HOSPITAL_NAMES: tuple[str, ...] = (
    "{d}第{n}人民医院", "{d}中医医院", "{d}妇幼保健院", "北京{w}医院", "{d}中西医结合医院", "{d}第{n}医院",
)

SUPPLIERS: tuple[str, ...] = (
    "国药控股北京有限公司", "华润医药商业集团", "上海医药分销", "九州通医药集团",
    "北京医药股份有限公司", "重药控股北京有限公司",
)
# Names under which laundering pharmacies book recycled packs (brokers, 药贩子).
RECYCLER_NAMES: tuple[str, ...] = (
    "个人回收", "个人(张**)", "个人(王**)", "个人(李**)", "个人(刘**)", "个人(陈**)",
    "个人(赵**)", "个人(孙**)", "个人(周**)", "个人(吴**)",
)
